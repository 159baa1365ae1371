"""The shipped curves reproduce the guidebook: published worked values, hand-evaluated forms at
chosen speeds, clamping, MEE 2014 bins, and clear errors for unknown categories.

Reference values never come from the code under test: they are the guidebook's own example values
(``example_value_published`` in ../shared), the worked values printed in
../shared/docs/emissions.md, or the published form written out below and evaluated on the
*source* table's coefficients.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from carbonedge.emissions import UnknownCategoryError, copert_ef, mee_ef
from carbonedge.emissions.tables import DATA_DIR

_POL = {"EC": "ec_mj_per_km", "NOx": "nox", "PM": "pm25", "CO": "co"}
_ID = (
    "Category",
    "Fuel",
    "Segment",
    "EuroStandard",
    "Technology",
    "Pollutant",
    "Mode",
    "road_slope_frac",
    "load_frac",
)
_SRC_ID = (
    "src_category",
    "src_fuel",
    "src_segment",
    "src_euro",
    "src_technology",
    "src_pollutant",
    "src_mode",
    "src_slope",
    "src_load",
)


def _shipped() -> list[dict[str, str]]:
    with open(DATA_DIR / "copert2019_hot.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _source_rows(source_tables: Path) -> dict[tuple[str, ...], dict[str, str]]:
    rows = {}
    for name in {r["src_file"] for r in _shipped()}:
        with open(source_tables / name, newline="") as fh:
            for r in csv.DictReader(fh):
                rows[tuple(r[k] for k in _ID)] = r
    return rows


def _hand_ef(r: dict[str, str], v: float) -> float:
    """EMEP/EEA 2019 form, written out independently from the guidebook/SOURCES.md."""
    v = min(max(v, float(r["v_min_kmh"])), float(r["v_max_kmh"]))
    a, b, g, d, e, z, h = (
        float(r[k]) for k in ("Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zita", "Hta")
    )
    rf = float(r["reduction_factor_frac"])
    return (a * v**2 + b * v + g + d / v) / (e * v**2 + z * v + h) * (1 - rf)


def _ours(row: dict[str, str], v: float) -> float:
    cat = (row["vehicle_class"], row["size"], row["fuel"], row["standard"])
    return float(copert_ef(cat, v)[_POL[row["src_pollutant"]]])


def test_every_shipped_row_matches_its_source_and_the_published_value(source_tables):
    src = _source_rows(source_tables)
    shipped = _shipped()
    assert len(shipped) == 152  # 38 categories x (EC, NOx, PM, CO)
    for row in shipped:
        s = src[tuple(row[k] for k in _SRC_ID)]
        for ours, theirs in (("alpha", "Alpha"), ("hta", "Hta"), ("v_min_kmh", "v_min_kmh")):
            assert float(row[ours]) == float(s[theirs]), (row, ours)
        published = float(s["example_value_published"])
        got = _ours(row, float(s["example_speed_kmh"]))
        assert got == pytest.approx(published, rel=1e-3), row


@pytest.mark.parametrize("speed_kmh", [2.0, 10.0, 17.5, 30.0, 50.0, 80.0, 140.0, 200.0])
def test_every_shipped_row_follows_the_form_at_chosen_speeds(source_tables, speed_kmh):
    src = _source_rows(source_tables)
    for row in _shipped():
        expected = _hand_ef(src[tuple(row[k] for k in _SRC_ID)], speed_kmh)
        assert _ours(row, speed_kmh) == pytest.approx(expected, rel=1e-3), row


# Worked values printed (4 significant digits) in ../shared/docs/emissions.md, appendix:
# urban bus standard 15-18 t diesel, slope 0, load 50 %.
@pytest.mark.parametrize(
    ("standard", "key", "values"),
    [
        ("VI", "nox", {10: 1.015, 20: 0.5516, 30: 0.3825, 50: 0.2033, 60: 0.1522}),
        ("VI", "ec_mj_per_km", {10: 18.57, 20: 13.98, 30: 11.62, 50: 9.255, 60: 8.663}),
        ("VI", "co", {10: 0.5151, 20: 0.2964, 30: 0.2171, 50: 0.1513, 60: 0.1345}),
        ("V", "nox", {10: 15.27, 30: 5.671, 40: 3.954, 50: 2.897, 60: 2.263}),
        ("IV", "nox", {20: 6.773, 30: 5.452, 40: 4.691, 50: 4.181, 60: 3.808}),
        ("IV", "ec_mj_per_km", {20: 14.12, 30: 11.79, 40: 10.58, 50: 9.875, 60: 9.412}),
    ],
)
def test_doc_worked_values_urban_bus(standard, key, values):
    for v, expected in values.items():
        got = float(copert_ef(("bus", "standard", "diesel", standard), v)[key])
        assert got == pytest.approx(expected, rel=1e-3), (v, got)


def test_co2_follows_from_energy_by_carbon_balance():
    ec = float(copert_ef(("bus", "standard", "diesel", "VI"), 20.0)["ec_mj_per_km"])
    co2 = float(copert_ef(("bus", "standard", "diesel", "VI"), 20.0)["co2"])
    # diesel: LHV 42.7 MJ/kg, 44.011 / (12.011 + 1.008 * 1.86) g CO2 per g fuel
    assert co2 == pytest.approx(ec / 42.7 * 1000 * 44.011 / (12.011 + 1.008 * 1.86), rel=2e-4)


def test_speed_is_clamped_to_the_valid_range():
    # articulated 34-40 t Euro V: NOx/CO/EC valid 5-85 km/h, PM 10-85 km/h
    cat = ("truck", "heavy", "diesel", "V")

    def ef(v: float) -> dict[str, float]:
        return {k: float(x) for k, x in copert_ef(cat, v).items()}

    for key, v_min in (("nox", 5.0), ("co", 5.0), ("ec_mj_per_km", 5.0), ("pm25", 10.0)):
        assert ef(1.0)[key] == ef(v_min)[key]
        assert ef(v_min + 1.0)[key] != ef(v_min)[key]
        assert ef(150.0)[key] == ef(85.0)[key]
        assert ef(84.0)[key] != ef(85.0)[key]


@pytest.mark.parametrize(
    ("category", "named"),
    [
        (("plane", "medium", "petrol", "VI"), "'plane'"),
        (("car", "huge", "petrol", "VI"), "size 'huge'"),
        (("car", "medium", "hydrogen", "VI"), "fuel 'hydrogen'"),
        (("car", "medium", "petrol", "VII"), "emission standard 'VII'"),
        (("bus", "standard", "petrol", "VI"), "fuel 'petrol' for bus"),
    ],
)
def test_unknown_categories_are_rejected_by_name(category, named):
    with pytest.raises(UnknownCategoryError, match=named):
        copert_ef(category, 30.0)


def test_mee2014_base_factor_times_speed_bin():
    # PV Small petrol 国IV NOx BEF 0.196 g/km (china_mee2014_bef.csv); petrol NOx speed factors
    # <20: 1.38, 20-30: 1.13, 30-40: 0.9, 40-80: 0.86, >80: 0.96; 30 km/h is the base (1.0)
    cat = ("car", "medium", "petrol", "IV")
    speeds = np.array([10.0, 25.0, 30.0, 35.0, 60.0, 100.0])
    expected = 0.196 * np.array([1.38, 1.13, 1.0, 0.9, 0.86, 0.96])
    np.testing.assert_allclose(mee_ef(cat, "nox", speeds), expected, rtol=1e-9)
    # heavy diesel truck 国V PM2.5 0.027 g/km; diesel IV/V PM2.5 factor below 20 km/h: 1.36
    assert float(mee_ef(("truck", "heavy", "diesel", "V"), "pm25", 12.0)) == pytest.approx(
        0.027 * 1.36
    )


def test_mee2014_rejects_standards_beyond_the_guideline():
    with pytest.raises(UnknownCategoryError, match="emission standard 'VI'"):
        mee_ef(("car", "medium", "petrol", "VI"), "nox", 30.0)
    with pytest.raises(UnknownCategoryError, match="'IV'.*III"):
        mee_ef(("motorcycle", "lt250cc", "petrol", "IV"), "co", 30.0)
    with pytest.raises(UnknownCategoryError, match="pollutant 'so2'"):
        mee_ef(("car", "medium", "petrol", "V"), "so2", 30.0)


def test_speed_must_be_positive():
    from carbonedge.emissions import EmissionsInputError

    with pytest.raises(EmissionsInputError, match="speed_kmh"):
        copert_ef(("car", "medium", "petrol", "VI"), math.nan)

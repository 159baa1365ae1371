"""Interval estimates: fleet mix, idle attribution, grouping, reproducibility and the uncertainty
model (systematic errors do not shrink with more vehicles), plus Numba/NumPy kernel parity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from pydantic import ValidationError

from carbonedge.emissions import (
    ClassActivity,
    EmissionsConfig,
    EmissionsInputError,
    _mc_nb,
    _mc_ref,
    copert_ef,
    estimate_interval,
)
from carbonedge.emissions.estimate import Z95

ONE_CAR = {
    "car": {
        "electric_share": 0.0,
        "size": {"medium": 1.0},
        "fuel": {"petrol": 1.0},
        "standard": {"VI": 1.0},
    }
}


def _config(**kw) -> EmissionsConfig:
    return EmissionsConfig.model_validate(kw)


def _car(n: int, **kw) -> ClassActivity:
    return ClassActivity(
        vehicle_class="car",
        vehicles=n,
        distance_km=0.1 * n,
        mean_speed_kmh=kw.pop("speed", 20.0),
        **kw,
    )


def test_central_value_is_distance_times_factor():
    r = estimate_interval([_car(100)], _config(fleet=ONE_CAR))
    ef = copert_ef(("car", "medium", "petrol", "VI"), 20.0)
    for p in ("co2", "nox", "pm25", "co"):
        assert r.total.grams[p].value == pytest.approx(10.0 * float(ef[p]), rel=1e-12)
        assert r.total.grams[p].lo < r.total.grams[p].value < r.total.grams[p].hi


def test_electric_share_scales_tailpipe_emissions():
    half = {"car": {**ONE_CAR["car"], "electric_share": 0.5}}
    full = estimate_interval([_car(100)], _config(fleet=ONE_CAR)).total.grams["nox"].value
    assert estimate_interval([_car(100)], _config(fleet=half)).total.grams["nox"].value == (
        pytest.approx(full / 2)
    )


def test_bus_or_truck_is_the_share_weighted_mix():
    cfg = _config(bus_share_of_bus_or_truck=0.25)

    def per_km(cls: str) -> float:
        a = ClassActivity(vehicle_class=cls, vehicles=10, distance_km=1.0, mean_speed_kmh=15.0)
        return estimate_interval([a], cfg).total.grams["co2"].value

    assert per_km("bus_or_truck") == pytest.approx(0.25 * per_km("bus") + 0.75 * per_km("truck"))


def test_idle_is_attributed_not_added():
    cfg = _config(fleet=ONE_CAR)
    moving = estimate_interval([_car(100)], cfg)
    idling = estimate_interval([_car(100, idle_s=3600.0)], cfg)
    assert idling.total.grams["co2"].value == moving.total.grams["co2"].value
    # 1 vehicle-hour at the MOVES passenger-car petrol idle rate (2371.48 g CO2/h)
    assert idling.idle_co2.value == pytest.approx(2371.48)
    assert idling.idle_co2_share == pytest.approx(2371.48 / idling.total.grams["co2"].value)
    assert idling.to_dict()["idle"]["nox_pm25_co"] == "not_estimated"


def test_movements_and_classes_add_up_to_the_total():
    acts = [
        _car(300, movement="N->S"),
        _car(100, movement="N->E", speed=12.0),
        ClassActivity(vehicle_class="bus", movement="N->S", vehicles=8, distance_km=0.9),
        ClassActivity(vehicle_class="vehicle", vehicles=20),  # unknown class, no distance
    ]
    r = estimate_interval(acts, EmissionsConfig())
    for p in ("co2", "nox"):
        total = r.total.grams[p].value
        assert sum(g.grams[p].value for g in r.by_class.values()) == pytest.approx(total)
        assert r.by_movement["N->S"].grams[p].value + r.by_movement["N->E"].grams[
            p
        ].value + r.by_class["vehicle"].grams[p].value == pytest.approx(total)
    assert r.by_class["vehicle"].distance_km == pytest.approx(20 * 0.050)
    assert set(r.defaults_used) == {"segment_length", "speed"}


def test_results_are_reproducible_and_independent_of_earlier_calls():
    cfg = EmissionsConfig()
    acts = [_car(50, movement=f"m{i}") for i in range(3)]
    first = estimate_interval(acts, cfg).to_dict()
    estimate_interval([_car(5, movement=f"x{i}") for i in range(100)], cfg)  # grows the draws
    assert estimate_interval(acts, cfg).to_dict() == first
    assert estimate_interval(acts, EmissionsConfig()).to_dict() == first  # a fresh config too


def test_summary_is_compact():
    acts = [
        ClassActivity(vehicle_class=c, vehicles=50, distance_km=5.0, mean_speed_kmh=20.0)
        for c in ("car", "van", "bus", "truck", "motorcycle")
    ]
    d = estimate_interval(acts, EmissionsConfig()).to_dict()
    for cls, entry in d["by_class"].items():
        assert len(json.dumps(entry)) < 300, cls
    assert len(json.dumps(d)) < 2500
    assert d["tables"].startswith("eea2019-mee2014+")


def _only_ef_spread(**kw) -> EmissionsConfig:
    u = {
        "fleet_mix_gsd": 1.0,
        "speed_gsd": 1.0,
        "count_gsd": 1.0,
        "draws": 4000,
        "vehicle_cv": {"co2": 1e-9, "nox": 1e-9, "pm25": 1e-9, "co": 1e-9},
    }
    u.update(kw)
    return _config(fleet=ONE_CAR, uncertainty=u)


def test_factor_spread_gives_the_lognormal_interval():
    r = estimate_interval([_car(1000)], _only_ef_spread())
    for p, gsd in (("co2", 1.12), ("nox", 1.5), ("pm25", 2.0), ("co", 1.6)):
        g = r.total.grams[p]
        assert g.hi / g.value == pytest.approx(gsd**Z95, rel=0.05), p
        assert g.value / g.lo == pytest.approx(gsd**Z95, rel=0.05), p


def test_fleet_wide_errors_do_not_shrink_with_more_vehicles():
    cfg = _config(fleet=ONE_CAR, uncertainty={"draws": 4000})
    floor = 1.5**Z95  # NOx factor error alone: systematic, shared by all vehicles
    widths = {}
    for n in (10, 10_000):
        g = estimate_interval([_car(n)], cfg).total.grams["nox"]
        widths[n] = g.hi / g.value
    assert widths[10_000] > 0.95 * floor  # 10^4 vehicles: still at least the systematic error
    assert widths[10] > widths[10_000] * 1.1  # few vehicles: the random part adds to it
    # many activities of one class share the same systematic draw (no averaging across movements)
    many = estimate_interval([_car(1000, movement=f"m{i}") for i in range(12)], cfg)
    g = many.total.grams["nox"]
    assert g.hi / g.value > 0.95 * floor


def test_speed_error_propagates_through_the_curve():
    # NOx of a petrol car at 10 km/h falls with speed: a speed spread must widen the interval
    no_speed = estimate_interval(
        [_car(1000, speed=10.0)],
        _only_ef_spread(ef_gsd={"co2": 1.0001, "nox": 1.0001, "pm25": 1.0001, "co": 1.0001}),
    )
    with_speed = estimate_interval(
        [_car(1000, speed=10.0)],
        _only_ef_spread(
            speed_gsd=1.2, ef_gsd={"co2": 1.0001, "nox": 1.0001, "pm25": 1.0001, "co": 1.0001}
        ),
    )
    w0 = no_speed.total.grams["co2"].hi / no_speed.total.grams["co2"].lo
    w1 = with_speed.total.grams["co2"].hi / with_speed.total.grams["co2"].lo
    assert w0 < 1.01 < w1


def test_mee2014_method_and_its_proxies():
    r = estimate_interval([_car(100)], _config(method="mee2014"))
    assert r.method == "mee2014"
    assert any("国VI uses 国V" in p for p in r.proxies)
    with pytest.raises(ValidationError, match="MEE 2014 has no factors for car/petrol 国VI"):
        _config(method="mee2014", mee2014_newer_standard_proxy=False)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (
            {"fleet": {"car": {**ONE_CAR["car"], "standard": {"VII": 1.0}}}},
            "fleet.car.standard: unknown emission standard 'VII'",
        ),
        (
            {
                "fleet": {
                    "bus": {"size": {"standard": 1}, "fuel": {"petrol": 1}, "standard": {"VI": 1}}
                }
            },
            "unknown fuel 'petrol' for bus",
        ),
        ({"fleet": {"car": {**ONE_CAR["car"], "fuel": {"petrol": 0.5}}}}, "sum to 1"),
        ({"table_version": "eea2019-mee2014+000000000000"}, "does not match"),
        ({"colour": "green"}, "Extra inputs"),
    ],
)
def test_bad_config_is_rejected_by_name(kw, match):
    with pytest.raises(ValidationError, match=match):
        _config(**kw)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"vehicle_class": "tram", "vehicles": 1}, "unknown class 'tram'"),
        ({"vehicle_class": "car", "vehicles": -1}, "vehicles"),
        ({"vehicle_class": "car", "vehicles": 1, "distance_km": math.inf}, "distance_km"),
        ({"vehicle_class": "car", "vehicles": 1, "mean_speed_kmh": 0.0}, "mean_speed_kmh"),
        ({"vehicle_class": "car", "vehicles": 1, "idle_s": -3.0}, "idle_s"),
    ],
)
def test_bad_activity_is_rejected_by_field(kw, match):
    with pytest.raises(EmissionsInputError, match=match):
        ClassActivity(**kw)


def test_numba_kernel_matches_numpy_reference():
    rng = np.random.default_rng(3)
    n_act, n_pol, n_draws, n_cat, n_grp, n_cls = 7, 4, 50, 12, 5, 3
    sizes = rng.integers(1, 6, n_act)
    ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    nnz = int(ptr[-1])
    args = (
        ptr,
        rng.integers(0, n_cat, nnz),
        rng.integers(0, n_grp, nnz),
        rng.random(nnz),
        rng.random((nnz, n_pol)) * 10,
        rng.normal(0, 0.5, (nnz, n_pol)),
        rng.random(n_act) * 5,
        rng.integers(0, n_cls, n_act),
        rng.random(n_act) < 0.5,
        rng.random((n_act, n_pol)),
        np.exp(rng.normal(0, 0.3, (n_draws, n_grp, n_pol))),
        np.exp(rng.normal(0, 0.3, (n_draws, n_cat))),
        rng.normal(0, 0.05, n_draws),
        np.exp(rng.normal(0, 0.03, (n_draws, n_cls))),
        np.exp(rng.normal(0, 0.2, n_draws)),
        rng.standard_normal((n_draws, n_act, n_pol)),
    )
    np.testing.assert_allclose(_mc_nb.mc_draws(*args), _mc_ref.mc_draws(*args), rtol=1e-12)


def test_a_class_with_a_larger_count_error_gets_a_wider_interval():
    narrow = estimate_interval([_car(1000)], _only_ef_spread(count_gsd_by_class={"car": 1.0}))
    wide = estimate_interval([_car(1000)], _only_ef_spread(count_gsd_by_class={"car": 1.5}))
    for p in ("co2", "nox"):
        n, w = narrow.total.grams[p], wide.total.grams[p]
        assert w.hi / w.value > n.hi / n.value * 1.1, p
    default = estimate_interval([_car(1000)], _config(fleet=ONE_CAR))  # COUNT_GSD_BY_CLASS car 1.1
    assert default.total.grams["co2"].hi > default.total.grams["co2"].value * 1.2

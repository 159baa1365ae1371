"""Developer tool: regenerate ``emissions/data/*.csv`` from the shared source tables.

Run ``python -m carbonedge.emissions._transcribe ../shared/data/emissions`` from the repository
root. It selects, for every shipped category (vehicle class x size x fuel x emission standard), the
one EMEP/EEA 2019 row per pollutant and the MEE 2014 base factors, and writes them with the source
row's identifying columns and the guidebook's own worked value, so every number can be traced back
(see ``data/SOURCES.md``). The runtime never reads ``../shared``, only the files written here.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "data"

# Our standard -> EEA EuroStandard (国N ~ Euro N; 国VI ~ Euro 6/VI A/B/C, see SOURCES.md).
_EURO = {"III": "III", "IV": "IV", "V": "V", "VI": "VI A/B/C"}
_HDV_TECH = {"III": "", "IV": "SCR", "V": "SCR", "VI": "DPF+SCR"}

# (class, size, fuel) -> (EEA file, Category, EEA fuel, Segment, {standard: technology})
_COPERT_SPECS: dict[tuple[str, str, str], tuple[str, str, str, str, dict[str, str]]] = {
    ("car", "medium", "petrol"): (
        "eea2019_pc_lcv_mc_all.csv",
        "PC",
        "G",
        "Medium",
        {"III": "PFI", "IV": "PFI", "V": "PFI", "VI": "PFI"},
    ),
    ("car", "medium", "diesel"): (
        "eea2019_pc_lcv_mc_all.csv",
        "PC",
        "D",
        "Medium",
        {"III": "DPF", "IV": "DPF", "V": "DPF", "VI": "DPF+SCR"},
    ),
    ("van", "n1_ii", "petrol"): (
        "eea2019_pc_lcv_mc_all.csv",
        "LCV",
        "G",
        "N1-II",
        {"III": "PFI", "IV": "PFI", "V": "PFI", "VI": "PFI"},
    ),
    ("van", "n1_ii", "diesel"): (
        "eea2019_pc_lcv_mc_all.csv",
        "LCV",
        "D",
        "N1-II",
        {"III": "DPF", "IV": "DPF", "V": "DPF", "VI": "DPF+SCR"},
    ),
    ("bus", "midi", "diesel"): (
        "eea2019_bus_all.csv",
        "BUS",
        "D",
        "Urban Buses Midi <=15 t",
        _HDV_TECH,
    ),
    ("bus", "standard", "diesel"): (
        "eea2019_bus_all.csv",
        "BUS",
        "D",
        "Urban Buses Standard 15 - 18 t",
        _HDV_TECH,
    ),
    ("truck", "light", "diesel"): (
        "eea2019_hdv_trucks_all.csv",
        "TRUCKS",
        "D",
        "Rigid <=7.5 t",
        _HDV_TECH,
    ),
    ("truck", "medium", "diesel"): (
        "eea2019_hdv_trucks_all.csv",
        "TRUCKS",
        "D",
        "Rigid 12 - 14 t",
        _HDV_TECH,
    ),
    ("truck", "heavy", "diesel"): (
        "eea2019_hdv_trucks_all.csv",
        "TRUCKS",
        "D",
        "Articulated 34 - 40 t",
        _HDV_TECH,
    ),
    ("motorcycle", "lt250cc", "petrol"): (
        "eea2019_pc_lcv_mc_all.csv",
        "MC",
        "G",
        "Motorcycles 4-stroke <250 cc",
        {"III": "", "IV": ""},
    ),
}
_COPERT_POLLUTANTS = ("CO", "NOx", "PM", "EC")

# (class, size, fuel) -> (MEE vehicle_group, vehicle_type, MEE fuel)
_MEE_SPECS: dict[tuple[str, str, str], tuple[str, str, str]] = {
    ("car", "medium", "petrol"): ("PV", "Small", "G"),
    ("car", "medium", "diesel"): ("PV", "Small", "D"),
    ("van", "n1_ii", "petrol"): ("Trucks", "Light", "G"),
    ("van", "n1_ii", "diesel"): ("Trucks", "Light", "D"),
    ("bus", "midi", "diesel"): ("PV", "Mediumbus", "D"),
    ("bus", "standard", "diesel"): ("PV", "Largebus", "D"),
    ("truck", "light", "diesel"): ("Trucks", "Light", "D"),
    ("truck", "medium", "diesel"): ("Trucks", "Medium", "D"),
    ("truck", "heavy", "diesel"): ("Trucks", "Heavy", "D"),
    ("motorcycle", "lt250cc", "petrol"): ("PV", "Motorcycles", "G"),
}
_MEE_STANDARDS = ("III", "IV", "V")
_MEE_POLLUTANTS = ("CO", "NOx", "PM2.5")


def _pick(rows: list[dict[str, str]], what: str) -> dict[str, str]:
    """The one row among ``rows``: prefer urban-peak mode, slope 0 and load 0.5 when several."""
    if len(rows) > 1:
        rows = [r for r in rows if r["Mode"] in ("", "Urban Peak")]
    if len(rows) > 1:
        rows = [r for r in rows if r["road_slope_frac"] in ("", "0")]
    if len(rows) > 1:
        rows = [r for r in rows if r["load_frac"] in ("", "0.5")]
    if len(rows) != 1:
        raise SystemExit(f"{what}: expected exactly one source row, found {len(rows)}")
    return rows[0]


def _copert(src: Path) -> list[list[str]]:
    cache: dict[str, list[dict[str, str]]] = {}
    out = []
    for (vclass, size, fuel), (fname, cat, efuel, seg, techs) in _COPERT_SPECS.items():
        rows = cache.setdefault(fname, list(csv.DictReader(open(src / fname, newline=""))))
        for standard, tech in techs.items():
            for pol in _COPERT_POLLUTANTS:
                cand = [
                    r
                    for r in rows
                    if (
                        r["Category"],
                        r["Fuel"],
                        r["Segment"],
                        r["EuroStandard"],
                        r["Technology"],
                        r["Pollutant"],
                    )
                    == (cat, efuel, seg, _EURO[standard], tech, pol)
                ]
                r = _pick(cand, f"{vclass}/{size}/{fuel}/{standard}/{pol}")
                out.append(
                    [
                        vclass,
                        size,
                        fuel,
                        standard,
                        "PM2.5" if pol == "PM" else pol,
                        r["unit"],
                        r["v_min_kmh"],
                        r["v_max_kmh"],
                        r["Alpha"],
                        r["Beta"],
                        r["Gamma"],
                        r["Delta"],
                        r["Epsilon"],
                        r["Zita"],
                        r["Hta"],
                        r["reduction_factor_frac"],
                        r["example_speed_kmh"],
                        r["example_value_published"],
                        fname,
                        r["Category"],
                        r["Fuel"],
                        r["Segment"],
                        r["EuroStandard"],
                        r["Technology"],
                        r["Pollutant"],
                        r["Mode"],
                        r["road_slope_frac"],
                        r["load_frac"],
                    ]
                )
    return out


def _mee(src: Path) -> tuple[list[list[str]], list[list[str]]]:
    bef = list(csv.DictReader(open(src / "china_mee2014_bef.csv", newline="")))
    out = []
    for (vclass, size, fuel), (group, vtype, mfuel) in _MEE_SPECS.items():
        for standard in _MEE_STANDARDS:
            for pol in _MEE_POLLUTANTS:
                cand = [
                    r
                    for r in bef
                    if (
                        r["vehicle_group"],
                        r["vehicle_type"],
                        r["fuel"],
                        r["china_standard"],
                        r["pollutant"],
                    )
                    == (group, vtype, mfuel, standard, pol)
                    and r["in_2014_guideline"] == "True"
                ]
                if not cand and vclass == "motorcycle":
                    continue  # the guideline stops at 国III for motorcycles
                if len(cand) != 1:
                    raise SystemExit(
                        f"MEE {group}/{vtype}/{mfuel}/{standard}/{pol}: {len(cand)} rows"
                    )
                out.append([vclass, size, fuel, standard, pol, cand[0]["bef"], group, vtype, mfuel])
    speed = list(csv.DictReader(open(src / "china_mee2014_speed_correction.csv", newline="")))
    sp_out = []
    for r in speed:
        if r["in_2014_guideline"] != "True" or r["pollutant"] not in _MEE_POLLUTANTS:
            continue
        if r["china_standard"] not in _MEE_STANDARDS:
            continue
        fuel = {"G": "petrol", "D": "diesel"}[r["fuel"]]
        sp_out.append(
            [
                fuel,
                r["china_standard"],
                r["pollutant"],
                r["f_v_lt20"],
                r["f_v_20_30"],
                r["f_v_30_40"],
                r["f_v_40_80"],
                r["f_v_gt80"],
            ]
        )
    return out, sp_out


def _write(name: str, header: list[str], rows: list[list[str]]) -> None:
    with open(OUT_DIR / name, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def main(argv: list[str]) -> int:
    src = Path(argv[0] if argv else "../shared/data/emissions")
    _write(
        "copert2019_hot.csv",
        [
            "vehicle_class",
            "size",
            "fuel",
            "standard",
            "pollutant",
            "unit",
            "v_min_kmh",
            "v_max_kmh",
            "alpha",
            "beta",
            "gamma",
            "delta",
            "epsilon",
            "zita",
            "hta",
            "reduction_frac",
            "example_speed_kmh",
            "example_value_published",
            "src_file",
            "src_category",
            "src_fuel",
            "src_segment",
            "src_euro",
            "src_technology",
            "src_pollutant",
            "src_mode",
            "src_slope",
            "src_load",
        ],
        _copert(src),
    )
    bef, speed = _mee(src)
    _write(
        "mee2014_bef.csv",
        [
            "vehicle_class",
            "size",
            "fuel",
            "standard",
            "pollutant",
            "bef_g_per_km",
            "src_vehicle_group",
            "src_vehicle_type",
            "src_fuel",
        ],
        bef,
    )
    _write(
        "mee2014_speed_correction.csv",
        ["fuel", "standard", "pollutant", "f_lt20", "f_20_30", "f_30_40", "f_40_80", "f_gt80"],
        speed,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""The shipped factor tables (``data/*.csv``) and the curves evaluated from them.

Tables are read once per process. ``table_version()`` is ``"eea2019-mee2014+<hash>"``, the hash
being the first 12 hex digits of the SHA-256 of every data file (sorted by name), so a summary names
exactly the numbers it was computed with.

EMEP/EEA 2019 hot-emission form (every row, ``data/copert2019_hot.csv``)::

    EF(V) = (alpha V^2 + beta V + gamma + delta / V) / (epsilon V^2 + zita V + hta) * (1 - RF)

with V in km/h clamped to the row's [v_min_kmh, v_max_kmh]; g/km, or MJ/km for EC. CO2 [g/km] is
EC / LHV * 1000 * (g CO2 per g fuel) with ``data/fuel.csv``. MEE 2014: EF = BEF x speed-bin
correction (``data/mee2014_*.csv``); the guideline has no CO2, so CO2 always uses the EEA EC route.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from carbonedge.emissions.errors import EmissionsInputError, UnknownCategoryError

DATA_DIR = Path(__file__).resolve().parent / "data"

POLLUTANTS: tuple[str, ...] = ("co2", "nox", "pm25", "co")
"""Reported pollutants, in this order everywhere (arrays' last axis)."""

_COPERT_POLLUTANT = {"nox": "NOx", "pm25": "PM2.5", "co": "CO"}
_MEE_SPEED_EDGES_KMH = (20.0, 30.0, 40.0, 80.0)

Category = tuple[str, str, str, str]
"""(vehicle_class, size, fuel, standard), e.g. ("car", "medium", "petrol", "VI")."""


def _read_csv(name: str) -> list[dict[str, str]]:
    with open(DATA_DIR / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class Tables:
    """All shipped factors, indexed for vectorised evaluation.

    ``copert_coef`` (n_categories, 4, 10) float64: per category and per row pollutant
    (EC, NOx, PM2.5, CO) the columns alpha, beta, gamma, delta, epsilon, zita, hta, reduction_frac,
    v_min_kmh, v_max_kmh. ``co2_per_mj`` (n_categories,) g CO2 per MJ of the category's fuel.
    """

    categories: tuple[Category, ...]
    index: dict[Category, int]
    copert_coef: NDArray[np.float64]
    co2_per_mj: NDArray[np.float64]
    mee_bef: dict[tuple[str, str, str, str, str], float]
    mee_speed: dict[tuple[str, str, str], tuple[float, ...]]
    idle_co2_g_per_h: dict[tuple[str, str, str], float]
    fuels: dict[str, tuple[float, float]]
    fire: dict[str, dict[str, float]]
    version: str

    def sizes(self, vehicle_class: str) -> list[str]:
        return sorted({c[1] for c in self.categories if c[0] == vehicle_class})

    def fuels_of(self, vehicle_class: str) -> list[str]:
        return sorted({c[2] for c in self.categories if c[0] == vehicle_class})

    def standards_of(self, vehicle_class: str) -> list[str]:
        return sorted({c[3] for c in self.categories if c[0] == vehicle_class}, key=_roman)

    def require(self, category: Category) -> int:
        """Row index of ``category``; ``UnknownCategoryError`` naming the bad part otherwise."""
        if category in self.index:
            return self.index[category]
        vclass, size, fuel, standard = category
        classes = sorted({c[0] for c in self.categories})
        if vclass not in classes:
            raise UnknownCategoryError(
                f"unknown vehicle class {vclass!r} (shipped: {', '.join(classes)})"
            )
        for what, value, shipped in (
            ("size", size, self.sizes(vclass)),
            ("fuel", fuel, self.fuels_of(vclass)),
            ("emission standard", standard, self.standards_of(vclass)),
        ):
            if value not in shipped:
                raise UnknownCategoryError(
                    f"unknown {what} {value!r} for {vclass} (shipped: {', '.join(shipped)})"
                )
        raise UnknownCategoryError(f"no factors shipped for {'/'.join(category)}")


def _roman(s: str) -> int:
    return {"I": 1, "II": 2, "III": 3, "IV": 4, "V": 5, "VI": 6}.get(s, 0)


def _version() -> str:
    digest = hashlib.sha256()
    for path in sorted(DATA_DIR.glob("*.csv")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return f"eea2019-mee2014+{digest.hexdigest()[:12]}"


@lru_cache(maxsize=1)
def load_tables() -> Tables:
    """Read and index every shipped table (cached; the files are part of the package)."""
    fuels = {
        r["fuel"]: (float(r["lhv_mj_per_kg"]), float(r["co2_g_per_g_fuel"]))
        for r in _read_csv("fuel.csv")
    }
    rows = _read_csv("copert2019_hot.csv")
    cats: list[Category] = []
    for r in rows:
        key = (r["vehicle_class"], r["size"], r["fuel"], r["standard"])
        if key not in cats:
            cats.append(key)
    index = {c: i for i, c in enumerate(cats)}
    coef = np.full((len(cats), 4, 10), np.nan)
    slot = {"EC": 0, "NOx": 1, "PM2.5": 2, "CO": 3}
    cols = ("alpha", "beta", "gamma", "delta", "epsilon", "zita", "hta", "reduction_frac")
    for r in rows:
        i = index[(r["vehicle_class"], r["size"], r["fuel"], r["standard"])]
        coef[i, slot[r["pollutant"]]] = [float(r[c]) for c in cols] + [
            float(r["v_min_kmh"]),
            float(r["v_max_kmh"]),
        ]
    if np.isnan(coef).any():
        raise UnknownCategoryError("copert2019_hot.csv: a category lacks one of EC/NOx/PM2.5/CO")
    co2_per_mj = np.array([1000.0 * fuels[c[2]][1] / fuels[c[2]][0] for c in cats])
    mee_bef = {
        (r["vehicle_class"], r["size"], r["fuel"], r["standard"], r["pollutant"]): float(
            r["bef_g_per_km"]
        )
        for r in _read_csv("mee2014_bef.csv")
    }
    mee_speed = {
        (r["fuel"], r["standard"], r["pollutant"]): tuple(
            float(r[k]) for k in ("f_lt20", "f_20_30", "f_30_40", "f_40_80", "f_gt80")
        )
        for r in _read_csv("mee2014_speed_correction.csv")
    }
    idle = {
        (r["vehicle_class"], r["size"], r["fuel"]): float(r["co2_g_per_h"])
        for r in _read_csv("idle_co2.csv")
    }
    fire = {
        r["biome"]: {k: float(v) for k, v in r.items() if k.endswith(("_m2", "_kg", "_gsd"))}
        for r in _read_csv("fire.csv")
    }
    return Tables(
        tuple(cats), index, coef, co2_per_mj, mee_bef, mee_speed, idle, fuels, fire, _version()
    )


def table_version() -> str:
    """``"eea2019-mee2014+<12 hex>"``: changes whenever any shipped data file changes."""
    return load_tables().version


def eea2019_curve(coef: NDArray[np.float64], speed_kmh: NDArray[np.float64]) -> NDArray[np.float64]:
    """Evaluate the EMEP/EEA 2019 form; ``coef`` (..., 10) as in ``Tables.copert_coef``.

    ``speed_kmh`` broadcasts against ``coef[..., 0]`` and is clamped to each row's valid range.
    """
    v = np.clip(speed_kmh, coef[..., 8], coef[..., 9])
    a, b, g, d, e, z, h, rf = (coef[..., j] for j in range(8))
    return (a * v * v + b * v + g + d / v) / (e * v * v + z * v + h) * (1.0 - rf)


def copert_ef(
    category: Category, speed_kmh: float | NDArray[np.float64]
) -> dict[str, NDArray[np.float64]]:
    """Hot factors of one category at ``speed_kmh``: g/km by pollutant plus ``ec_mj_per_km``.

    Speeds outside the row's valid range are clamped to it (EMEP/EEA practice).
    """
    t = load_tables()
    i = t.require(category)
    v = np.asarray(speed_kmh, np.float64)
    _check_speed(v)
    vals = eea2019_curve(t.copert_coef[i][(...,) + (None,) * v.ndim + (slice(None),)], v)
    return {
        "ec_mj_per_km": vals[0],
        "co2": vals[0] * t.co2_per_mj[i],
        "nox": vals[1],
        "pm25": vals[2],
        "co": vals[3],
    }


def mee_speed_bin(speed_kmh: NDArray[np.float64]) -> NDArray[np.int64]:
    """MEE 2014 speed bin: 0 (<20), 1 [20,30), 2 (30,40), 3 [40,80], 4 (>80); -1 exactly 30.

    The guideline's base condition is 30 km/h (factor 1), as vein's ``ef_china`` reads it.
    """
    v = np.asarray(speed_kmh, np.float64)
    bins = np.select(
        [v < 20.0, v < 30.0, v == 30.0, v < 40.0, v <= 80.0], [0, 1, -1, 2, 3], default=4
    )
    return bins.astype(np.int64)


def mee_ef(
    category: Category, pollutant: str, speed_kmh: float | NDArray[np.float64]
) -> NDArray[np.float64]:
    """MEE 2014 factor (g/km) = BEF x speed correction, for ``pollutant`` in nox, pm25, co.

    Raises ``UnknownCategoryError`` when the guideline has no factor for the category (for example
    国VI: the 2014 guideline stops at 国V, and at 国III for motorcycles).
    """
    t = load_tables()
    t.require(category)
    if pollutant not in _COPERT_POLLUTANT:
        raise UnknownCategoryError(f"unknown MEE 2014 pollutant {pollutant!r} (nox, pm25, co)")
    mee_pol = _COPERT_POLLUTANT[pollutant]
    key = (*category, mee_pol)
    if key not in t.mee_bef:
        have = sorted(
            {k[3] for k in t.mee_bef if k[:3] == category[:3]},
            key=_roman,
        )
        raise UnknownCategoryError(
            f"MEE 2014 has no {'/'.join(category[:3])} factor for emission standard "
            f"{category[3]!r} (guideline covers: {', '.join(have)})"
        )
    v = np.asarray(speed_kmh, np.float64)
    _check_speed(v)
    factors = np.array(t.mee_speed[(category[2], category[3], mee_pol)] + (1.0,))
    return t.mee_bef[key] * factors[mee_speed_bin(v)]


def _check_speed(v: NDArray[np.float64]) -> None:
    if not np.all(np.isfinite(v)) or np.any(v <= 0):
        raise EmissionsInputError(f"speed_kmh must be finite and > 0 (got {v!r})")

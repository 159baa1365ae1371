"""Fleet mix: from a visual class to weighted emission categories, and their factors at a speed.

A visual class expands to every (size, fuel, standard) combination with weight
``(1 - electric_share) * size_share * fuel_share * standard_share``, plus one electric
pseudo-category (zero tailpipe) with ``electric_share``. The detector's ``bus_or_truck`` length
class is the bus and truck mixes weighted by ``bus_share_of_bus_or_truck``; ``vehicle`` (class
unknown) is the mix of all classes weighted by ``unknown_class_shares``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from carbonedge.emissions.errors import UnknownCategoryError
from carbonedge.emissions.tables import (
    POLLUTANTS,
    Category,
    Tables,
    _roman,
    eea2019_curve,
    load_tables,
    mee_speed_bin,
)

if TYPE_CHECKING:
    from carbonedge.emissions.config import ClassFleet, EmissionsConfig

INPUT_CLASSES: tuple[str, ...] = (
    "car",
    "van",
    "bus",
    "truck",
    "motorcycle",
    "bus_or_truck",
    "vehicle",
    "hgv",  # road-v1's heavy goods vehicle: the truck mix
)
_BASE = ("car", "van", "bus", "truck", "motorcycle")
_MEE_POL = ("NOx", "PM2.5", "CO")


def _mee_standard(t: Tables, cat: Category, proxy: bool) -> str | None:
    """The 国 standard whose MEE 2014 factors ``cat`` uses (itself, or the newest if proxied)."""
    have = sorted({k[3] for k in t.mee_bef if k[:3] == cat[:3]}, key=_roman)
    if cat[3] in have:
        return cat[3]
    if proxy and have and _roman(cat[3]) > _roman(have[-1]):
        return have[-1]
    return None


def check_fleet(vehicle_class: str, fleet: ClassFleet, method: str, proxy: bool) -> None:
    """Raise ``ValueError`` naming ``fleet.<class>.<key>`` when a share names unshipped factors."""
    t = load_tables()
    for key, shipped in (
        ("size", t.sizes(vehicle_class)),
        ("fuel", t.fuels_of(vehicle_class)),
        ("standard", t.standards_of(vehicle_class)),
    ):
        for name in getattr(fleet, key):
            if name not in shipped:
                what = "emission standard" if key == "standard" else key
                raise ValueError(
                    f"fleet.{vehicle_class}.{key}: unknown {what} {name!r} for {vehicle_class} "
                    f"(shipped: {', '.join(shipped)})"
                )
    if method != "mee2014":
        return
    for std, share in fleet.standard.items():
        for fuel in fleet.fuel:
            for size in fleet.size:
                if share > 0 and _mee_standard(t, (vehicle_class, size, fuel, std), proxy) is None:
                    raise ValueError(
                        f"fleet.{vehicle_class}.standard: MEE 2014 has no factors for "
                        f"{vehicle_class}/{fuel} 国{std} (set mee2014_newer_standard_proxy: true "
                        "or use method: copert)"
                    )


@dataclass(frozen=True)
class Mix:
    """Weighted categories of one input class (only non-zero weights).

    ``cat`` (n,) int64 global category index (``n_categories + class`` for electric),
    ``weight`` (n,) float64 summing to 1, ``group`` (n,) int64 systematic-factor group
    (one per base class x fuel; electric entries share a group whose factor is irrelevant).
    """

    cat: NDArray[np.int64]
    weight: NDArray[np.float64]
    group: NDArray[np.int64]


class FleetModel:
    """Everything ``estimate_interval`` needs from the tables for one config, built once."""

    def __init__(self, config: EmissionsConfig) -> None:
        t = load_tables()
        self.tables = t
        self.method = config.method
        self.n_categories = len(t.categories) + len(_BASE)
        fuels = sorted({c[2] for c in t.categories})
        self.n_groups = len(_BASE) * len(fuels) + 1
        self.proxies: list[str] = []
        # Step 1: per-category constants (electric rows stay zero)
        self.idle_g_per_h = np.zeros(self.n_categories)
        self.mee_bef = np.zeros((self.n_categories, 3))
        self.mee_factor = np.ones((self.n_categories, 3, 6))
        group = np.full(self.n_categories, self.n_groups - 1, np.int64)
        for i, cat in enumerate(t.categories):
            group[i] = _BASE.index(cat[0]) * len(fuels) + fuels.index(cat[2])
            self.idle_g_per_h[i] = t.idle_co2_g_per_h[cat[:3]]
            if config.method == "mee2014":
                self._fill_mee(i, cat, config.mee2014_newer_standard_proxy)
        self._group = group
        # Step 2: mixes of the base classes, then of the two composite classes
        base = {c: self._base_mix(c, config.fleet_for(c)) for c in _BASE}
        s = config.bus_share_of_bus_or_truck
        self.mixes: dict[str, Mix] = dict(base)
        self.mixes["bus_or_truck"] = self._combine({"bus": s, "truck": 1.0 - s}, base)
        self.mixes["vehicle"] = self._combine(dict(config.unknown_class_shares), base)
        self.mixes["hgv"] = base["truck"]

    def _fill_mee(self, i: int, cat: Category, proxy: bool) -> None:
        t = self.tables
        std = _mee_standard(t, cat, proxy)
        if std is None:
            return  # not used by this config (check_fleet rejected any share > 0)
        if std != cat[3]:
            note = f"mee2014: {cat[0]}/{cat[2]} 国{cat[3]} uses 国{std} factors"
            if note not in self.proxies:
                self.proxies.append(note)
        for j, pol in enumerate(_MEE_POL):
            self.mee_bef[i, j] = t.mee_bef[(*cat[:3], std, pol)]
            self.mee_factor[i, j, :5] = t.mee_speed[(cat[2], std, pol)]

    def _base_mix(self, vclass: str, fleet: ClassFleet) -> Mix:
        t = self.tables
        cats, weights = [], []
        ice = 1.0 - fleet.electric_share
        for size, ws in fleet.size.items():
            for fuel, wf in fleet.fuel.items():
                for std, wstd in fleet.standard.items():
                    w = ice * ws * wf * wstd
                    if w > 0:
                        cats.append(t.require((vclass, size, fuel, std)))
                        weights.append(w)
        if fleet.electric_share > 0:
            cats.append(len(t.categories) + _BASE.index(vclass))
            weights.append(fleet.electric_share)
        cat = np.array(cats, np.int64)
        weight = np.array(weights) / sum(weights)
        return Mix(cat, weight, self._group[cat])

    def _combine(self, shares: dict[str, float], base: dict[str, Mix]) -> Mix:
        parts = [(base[c], w) for c, w in shares.items() if w > 0]
        cat = np.concatenate([m.cat for m, _ in parts])
        weight = np.concatenate([m.weight * w for m, w in parts])
        return Mix(cat, weight / weight.sum(), self._group[cat])

    def mix(self, input_class: str) -> Mix:
        if input_class not in self.mixes:
            raise UnknownCategoryError(
                f"unknown vehicle class {input_class!r} (expected: {', '.join(INPUT_CLASSES)})"
            )
        return self.mixes[input_class]

    def factors(
        self, cat: NDArray[np.int64], speed_kmh: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Factors (n, 4) g/km, ``POLLUTANTS`` order, for categories ``cat`` (n,) at speeds (n,)."""
        t = self.tables
        n_real = len(t.categories)
        real = cat < n_real
        out = np.zeros((len(cat), len(POLLUTANTS)))
        k = cat[real]
        v = speed_kmh[real]
        curves = eea2019_curve(t.copert_coef[k], v[:, None])  # (m, 4): EC, NOx, PM2.5, CO
        out[real, 0] = curves[:, 0] * t.co2_per_mj[k]
        if self.method == "copert":
            out[real, 1:] = curves[:, 1:]
        else:
            b = mee_speed_bin(v)
            out[real, 1:] = self.mee_bef[k] * self.mee_factor[k, :, b]
        return out

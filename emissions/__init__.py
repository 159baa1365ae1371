"""Road-traffic and fire emissions with intervals (EMEP/EEA 2019 COPERT curves, China MEE 2014).

Public interface::

    from carbonedge.emissions import ClassActivity, EmissionsConfig, estimate_interval
    result = estimate_interval([ClassActivity(vehicle_class="car", vehicles=120,
                                              distance_km=18.0, mean_speed_kmh=22.0,
                                              idle_s=2400.0)], EmissionsConfig())
    result.to_dict()   # compact JSON-ready summary section

    from carbonedge.emissions import fire_emissions
    fire_emissions(area_m2=1500.0, biome="temperate_forest").to_dict()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = [
    "DEFAULT_FLEET",
    "POLLUTANTS",
    "ClassActivity",
    "ClassFleet",
    "EmissionsConfig",
    "EmissionsInputError",
    "FireEmissions",
    "Grams",
    "GroupEmissions",
    "IntervalEmissions",
    "UnknownCategoryError",
    "copert_ef",
    "estimate_interval",
    "fire_emissions",
    "mee_ef",
    "table_version",
]

# Every name is imported on first use (PEP 562): the estimators (traffic, fire) compile Numba
# kernels, so a site config that only names ``EmissionsConfig`` (or a site without emissions) does
# not pay for them, and ``carbonedge --help`` (which registers ``emissions.cli``) loads no NumPy.
_LAZY = {
    "DEFAULT_FLEET": "config",
    "ClassFleet": "config",
    "EmissionsConfig": "config",
    "EmissionsInputError": "errors",
    "UnknownCategoryError": "errors",
    "POLLUTANTS": "tables",
    "copert_ef": "tables",
    "mee_ef": "tables",
    "table_version": "tables",
    "ClassActivity": "estimate",
    "Grams": "estimate",
    "GroupEmissions": "estimate",
    "IntervalEmissions": "estimate",
    "estimate_interval": "estimate",
    "FireEmissions": "fire",
    "fire_emissions": "fire",
}
if TYPE_CHECKING:
    from carbonedge.emissions.config import DEFAULT_FLEET, ClassFleet, EmissionsConfig
    from carbonedge.emissions.errors import EmissionsInputError, UnknownCategoryError
    from carbonedge.emissions.estimate import (
        ClassActivity,
        Grams,
        GroupEmissions,
        IntervalEmissions,
        estimate_interval,
    )
    from carbonedge.emissions.fire import FireEmissions, fire_emissions
    from carbonedge.emissions.tables import POLLUTANTS, copert_ef, mee_ef, table_version


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

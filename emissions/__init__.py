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

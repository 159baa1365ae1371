"""Rough fire emissions: E = A x B x CF x EF (Seiler & Crutzen), with a 95 % interval.

``B x CF`` (fuel consumed per area, kg dry matter / m2) and the emission factors (g / kg dry matter)
come from ``data/fire.csv`` (GFED4 factors; fuel consumption is an unverified planning range, see
data/SOURCES.md). The interval multiplies independent lognormal terms:
ln GSD_total = sqrt(sum ln^2 GSD_j) over area, fuel consumed and the factor (method doc section 5).
This is an order-of-magnitude estimate and is flagged ``rough`` in every output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from carbonedge.emissions.errors import EmissionsInputError, UnknownCategoryError
from carbonedge.emissions.estimate import Z95, Grams, _sig
from carbonedge.emissions.tables import load_tables

FIRE_SPECIES: tuple[str, ...] = ("co2", "co", "pm25", "nox", "ch4")
# Factor spreads, method doc section 5 [U]: CO2 per kg DM is stable; CO and PM2.5 depend on
# flaming vs smouldering (GSD 1.4-1.5); NOx and CH4 taken as wide as CO.
FIRE_EF_GSD: dict[str, float] = {"co2": 1.05, "co": 1.45, "pm25": 1.45, "nox": 1.5, "ch4": 1.5}


@dataclass(frozen=True)
class FireEmissions:
    """Grams per species for one fire footprint; ``rough`` is always True."""

    biome: str
    area_m2: float
    fuel_consumed_kg_per_m2: float
    grams: dict[str, Grams]
    rough: bool = True

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "rough_estimate": True,
            "method": "seiler_crutzen",
            "biome": self.biome,
            "area_m2": _sig(self.area_m2),
            "fuel_consumed_kg_per_m2": _sig(self.fuel_consumed_kg_per_m2),
            "interval": "95%, [value, lo, hi] g",
        }
        out.update({f"{s}_g": g.compact() for s, g in self.grams.items()})
        return out


def fire_emissions(
    area_m2: float,
    biome: str,
    *,
    area_gsd: float = 1.5,
    fuel_consumed_kg_per_m2: float | None = None,
) -> FireEmissions:
    """Emissions of a burned/flaming area ``area_m2`` (ground area, from a calibrated mask).

    ``biome``: temperate_forest (surface fire), temperate_forest_crown, boreal_forest.
    ``area_gsd``: spread of the camera-derived area (1.5 near, 2.0 beyond ~2 km range).
    ``fuel_consumed_kg_per_m2`` overrides the biome's B x CF (its spread is kept).
    A smoke-only detection has no area: do not call this; report "area unknown" instead.
    """
    table = load_tables().fire
    if biome not in table:
        raise UnknownCategoryError(f"unknown biome {biome!r} (shipped: {', '.join(sorted(table))})")
    if not math.isfinite(area_m2) or area_m2 < 0:
        raise EmissionsInputError(f"area_m2 must be finite and >= 0 (got {area_m2})")
    if not math.isfinite(area_gsd) or area_gsd < 1.0:
        raise EmissionsInputError(f"area_gsd must be >= 1 (got {area_gsd})")
    row = table[biome]
    fuel = (
        row["fuel_consumed_kg_per_m2"]
        if fuel_consumed_kg_per_m2 is None
        else (fuel_consumed_kg_per_m2)
    )
    if not math.isfinite(fuel) or fuel <= 0:
        raise EmissionsInputError(f"fuel_consumed_kg_per_m2 must be > 0 (got {fuel})")
    grams = {}
    for s in FIRE_SPECIES:
        value = area_m2 * fuel * row[f"{s}_g_per_kg"]
        ln_total = math.sqrt(
            math.log(area_gsd) ** 2
            + math.log(row["fuel_consumed_gsd"]) ** 2
            + math.log(FIRE_EF_GSD[s]) ** 2
        )
        k = math.exp(Z95 * ln_total)
        grams[s] = Grams(value, value / k, value * k)
    return FireEmissions(biome, area_m2, fuel, grams)

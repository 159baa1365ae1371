"""``emissions:`` section of a site config (pydantic v2, unknown keys rejected).

The camera sees a class (car, van, bus, truck, motorcycle), not the fuel or the 国 standard, so each
class gets shares by size, fuel and standard (treated as independent) and an electric share (zero
tailpipe). ``DEFAULT_FLEET`` is a documented guess for a large Chinese city in the mid-2020s [U]:
replace it with the city's registration or inspection statistics where you have them (and then lower
``uncertainty.fleet_mix_gsd`` from 1.3 to 1.1, per the method doc section 5).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

VehicleClass = Literal["car", "van", "bus", "truck", "motorcycle"]
VEHICLE_CLASSES: tuple[str, ...] = ("car", "van", "bus", "truck", "motorcycle")


def _check_shares(shares: dict[str, float]) -> dict[str, float]:
    if not shares:
        raise ValueError("needs at least one share")
    bad = [k for k, v in shares.items() if not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"shares must lie in [0, 1] (bad: {', '.join(bad)})")
    total = sum(shares.values())
    if abs(total - 1.0) > 1e-3:
        raise ValueError(f"shares must sum to 1 (they sum to {total:.4g})")
    return shares


class ClassFleet(BaseModel):
    """Fleet composition of one visual class: shares by size, fuel and standard (each sums to 1).

    ``electric_share`` is the share of battery-electric vehicles (green plates, zero tailpipe);
    the other shares describe the combustion-engine part.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    electric_share: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="share of battery-electric vehicles (zero tailpipe), 0-1",
    )
    size: dict[str, float] = Field(
        description="size segment -> share of the combustion-engine part (sums to 1)",
    )
    fuel: dict[str, float] = Field(
        description="fuel -> share of the combustion-engine part (sums to 1)",
    )
    standard: dict[str, float] = Field(
        description="emission standard (e.g. China 6) -> share of the combustion-engine part (sums "
        "to 1)",
    )

    _shares = field_validator("size", "fuel", "standard")(_check_shares)


def _fleet(electric: float, size: dict, fuel: dict, standard: dict) -> ClassFleet:
    return ClassFleet(electric_share=electric, size=size, fuel=fuel, standard=standard)


# [U] engineering defaults for a large Chinese city, mid-2020s. Sources of the orders of magnitude:
# NEV share of the car stock ~10 % nationally (higher in big cities); urban buses largely electric
# (remaining ones modelled as diesel, no CNG rows shipped); 国VI mandatory for new cars since 2019-
# 2020, so about half the car stock; ICE motorcycles restricted in many cities, e-motorbikes common.
DEFAULT_FLEET: dict[str, ClassFleet] = {
    "car": _fleet(
        0.10,
        {"medium": 1.0},
        {"petrol": 0.97, "diesel": 0.03},
        {"III": 0.05, "IV": 0.20, "V": 0.25, "VI": 0.50},
    ),
    "van": _fleet(
        0.10,
        {"n1_ii": 1.0},
        {"petrol": 0.60, "diesel": 0.40},
        {"III": 0.10, "IV": 0.25, "V": 0.30, "VI": 0.35},
    ),
    "bus": _fleet(
        0.70,
        {"midi": 0.3, "standard": 0.7},
        {"diesel": 1.0},
        {"III": 0.05, "IV": 0.20, "V": 0.45, "VI": 0.30},
    ),
    "truck": _fleet(
        0.03,
        {"light": 0.5, "medium": 0.2, "heavy": 0.3},
        {"diesel": 1.0},
        {"III": 0.10, "IV": 0.25, "V": 0.30, "VI": 0.35},
    ),
    "motorcycle": _fleet(0.60, {"lt250cc": 1.0}, {"petrol": 1.0}, {"III": 0.4, "IV": 0.6}),
}


class PerPollutant(BaseModel):
    """One number per reported pollutant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    co2: float = Field(gt=0, description="value for CO2")
    nox: float = Field(gt=0, description="value for NOx")
    pm25: float = Field(gt=0, description="value for PM2.5")
    co: float = Field(gt=0, description="value for CO")


#: Count-error GSD per class measured by the accuracy benchmark on the hand-counted development
#: clips (README "Road taxonomy"; development figures, [M]): light vehicles are missed least,
#: heavy vehicles, two-wheelers and anything in hard light much more often. A site whose own
#: audit measured its error replaces them.
COUNT_GSD_BY_CLASS: dict[str, float] = {
    "car": 1.1, "van": 1.1, "vehicle": 1.15, "bus": 1.3, "hgv": 1.3, "truck": 1.3,
    "bus_or_truck": 1.3, "motorcycle": 1.6,
}  # fmt: skip


class UncertaintyConfig(BaseModel):
    """Spreads propagated by a seeded Monte Carlo (defaults: method doc section 5, [U]).

    GSD = geometric standard deviation of a lognormal multiplicative error. Systematic terms (factor
    error, fleet mix, speed calibration, count bias, segment length) are drawn once per interval
    and shared by every vehicle, so they do not shrink with more vehicles; only the
    vehicle-to-vehicle spread (``vehicle_cv``, coefficient of variation of one vehicle's factor)
    averages out, as 1/sqrt(vehicles).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    draws: int = Field(
        500,
        ge=100,
        le=100_000,
        description="Monte Carlo draws per interval for the 95 % intervals",
    )
    seed: int = Field(0, ge=0, description="random seed (same seed, same intervals)")
    ef_gsd: PerPollutant = Field(
        PerPollutant(co2=1.12, nox=1.5, pm25=2.0, co=1.6),
        description="emission factor error per pollutant, geometric standard deviation",
    )
    vehicle_cv: PerPollutant = Field(
        PerPollutant(co2=0.2, nox=0.8, pm25=1.0, co=1.0),
        description="vehicle-to-vehicle spread per pollutant, coefficient of variation",
    )
    fleet_mix_gsd: float = Field(
        1.3,
        ge=1.0,
        le=5.0,
        description="fleet composition error, geometric standard deviation",
    )
    speed_gsd: float = Field(
        1.04,
        ge=1.0,
        le=2.0,
        description="speed calibration error, geometric standard deviation",
    )
    count_gsd: float | None = Field(
        None, ge=1.0, le=2.0,
        description="GSD of every class's count error; unset: COUNT_GSD_BY_CLASS (1.03 for a "
        "class not listed there)",
    )  # fmt: skip
    count_gsd_by_class: dict[str, Annotated[float, Field(ge=1.0, le=5.0)]] | None = Field(
        None,
        description="class -> GSD of its count error (over count_gsd for that class): what the "
        "site's `carbonedge audit` measured (its JSON has `count_gsd_by_class`); road-v1 names "
        "(hgv) or the emission classes (truck)",
    )

    def count_gsd_of(self, vehicle_class: str) -> float:
        by_class = self.count_gsd_by_class
        if by_class is None:
            by_class = COUNT_GSD_BY_CLASS if self.count_gsd is None else {}
        return by_class.get(vehicle_class, self.count_gsd or 1.03)

    default_length_gsd: float = Field(
        1.3,
        ge=1.0,
        le=5.0,
        description="error of the default segment length, geometric standard deviation",
    )
    idle_rate_gsd: float = Field(
        1.5,
        ge=1.0,
        le=5.0,
        description="idling emission rate error, geometric standard deviation",
    )


class EmissionsConfig(BaseModel):
    """Per-site emissions settings (YAML section ``emissions:``); every field has a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["copert", "mee2014"] = Field(
        "copert",
        description="emission model: COPERT speed-dependent factors or the MEE 2014 guideline "
        "factors",
    )
    table_version: str | None = Field(
        None, description="pin the shipped tables; a mismatch fails at startup"
    )
    fleet: dict[VehicleClass, ClassFleet] = Field(
        default_factory=dict, description="per class; classes left out use DEFAULT_FLEET"
    )
    bus_share_of_bus_or_truck: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="share of buses among vehicles the detector calls bus_or_truck",
    )
    unknown_class_shares: dict[VehicleClass, float] = Field(
        default_factory=lambda: {
            "car": 0.85,
            "van": 0.05,
            "bus": 0.02,
            "truck": 0.04,
            "motorcycle": 0.04,
        },
        description="how vehicles of an unknown class are split over the emitting classes",
    )
    default_speed_kmh: float = Field(
        25.0,
        gt=0.0,
        le=200.0,
        description="speed used where no speed is measured (no ground plane)",
    )
    default_segment_length_m: float = Field(
        50.0,
        gt=0.0,
        le=10_000.0,
        description="road length in view, where no ground plane gives it",
    )
    mee2014_newer_standard_proxy: bool = Field(
        True, description="mee2014: use the newest 国 standard in the guideline for newer ones"
    )
    uncertainty: UncertaintyConfig = Field(
        UncertaintyConfig(),
        description="spreads behind the 95 % intervals",
    )

    _unknown = field_validator("unknown_class_shares")(_check_shares)

    def fleet_for(self, vehicle_class: str) -> ClassFleet:
        """The configured fleet of ``vehicle_class``, or its default."""
        return self.fleet.get(vehicle_class) or DEFAULT_FLEET[vehicle_class]  # type: ignore[index]

    @model_validator(mode="after")
    def _check_against_tables(self) -> EmissionsConfig:
        from carbonedge.emissions.fleet import check_fleet
        from carbonedge.emissions.tables import table_version

        if self.table_version is not None and self.table_version != table_version():
            raise ValueError(
                f"table_version {self.table_version!r} does not match the shipped tables "
                f"({table_version()})"
            )
        for vclass in VEHICLE_CLASSES:
            check_fleet(
                vclass, self.fleet_for(vclass), self.method, self.mee2014_newer_standard_proxy
            )
        return self

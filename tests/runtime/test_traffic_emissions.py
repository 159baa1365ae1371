"""The traffic section of an interval becomes its emissions section, also for a class whose
vehicles all stood still (distance 0 km, mean speed 0 km/h: a queue at a red light). Before the
fix, such an interval raised ``mean_speed_kmh must be > 0`` and stopped ``carbonedge run``."""

from __future__ import annotations

from carbonedge.emissions import EmissionsConfig
from carbonedge.runtime.traffic_emissions import interval_emissions

T0_S = 1_767_254_400.0


def test_a_class_that_only_idled_gives_idle_co2_and_no_crash() -> None:
    traffic = {
        "car": {"vehicles": 3, "observed_s": 60.0, "idle_s": 20.0, "distance_km": 0.3,
                "mean_speed_kmh": 18.0, "moving_speed_kmh": 27.0},
        "van": {"vehicles": 1, "observed_s": 15.0, "idle_s": 15.0, "distance_km": 0.0,
                "mean_speed_kmh": 0.0},
    }  # fmt: skip
    out = interval_emissions(traffic, EmissionsConfig(), T0_S, T0_S + 60)
    assert out["total"]["co2_g"][0] > 0
    assert out["idle"]["vehicle_s"] == 35.0  # the van's stop counts as idling
    # average-speed method: grams come from km at the mean speed *including* stops, so 0 km is 0 g
    # (its idle time is reported, but a vehicle that only stood there adds nothing to the total)
    assert out["by_class"]["van"]["co2_g"][0] == 0.0

"""Interval emissions from the summary's ``traffic`` section (bridge to ``carbonedge.emissions``).

Each detector class becomes one ``ClassActivity``: its vehicles, the vehicle-kilometres travelled in
the scene and the space-mean speed (including stops, as the average-speed curves expect) when a
ground plane gives metres, and its idle vehicle-seconds. Classes that emit nothing (person,
bicycle) are left out; a detector that only says "vehicle" uses the fleet mix; the motion
detector's "bus_or_truck" is split by the configured bus share. Values are ``[value, lo, hi]``
grams, a 95 % Monte Carlo interval; cold start, non-exhaust PM, evaporative emissions and idle
NOx/PM2.5/CO are not estimated (see the README's emissions section).
"""

from __future__ import annotations

from typing import Any

from carbonedge.emissions import ClassActivity, EmissionsConfig, estimate_interval

__all__ = ["EMITTING_CLASSES", "interval_emissions"]

# class names the emission model knows (road-v1, COCO names, length classes, "vehicle");
# road-v1's pedestrian and bicycle emit nothing and are left out
EMITTING_CLASSES = frozenset(
    {"car", "van", "bus", "truck", "hgv", "motorcycle", "bus_or_truck", "vehicle"}
)


def interval_emissions(
    traffic: dict[str, dict[str, Any]], config: EmissionsConfig, start_s: float, end_s: float
) -> dict[str, Any]:
    """The ``emissions`` section of one interval summary."""
    activities = [
        ClassActivity(
            vehicle_class=name,
            vehicles=int(t["vehicles"]),
            distance_km=t.get("distance_km"),
            # every vehicle of the class stood still: no distance, no speed to look factors up
            # at (the idle time still counts); None takes the default, times 0 km
            mean_speed_kmh=t.get("mean_speed_kmh") or None,
            idle_s=float(t.get("idle_s", 0.0)),
        )
        for name, t in sorted(traffic.items())
        if name in EMITTING_CLASSES and t["vehicles"] > 0
    ]
    out = estimate_interval(activities, config, start_s=start_s, end_s=end_s).to_dict()
    # Compact: the summary already has the interval bounds and, in ``traffic``, each class's
    # vehicles, km and idle time; the legend and the fixed exclusions are in the schema.
    for static in _STATIC_KEYS:
        out.pop(static, None)
    for group in out.get("by_class", {}).values():
        for repeated in ("vehicles", "km", "idle_s"):
            group.pop(repeated, None)
    idle = out.get("idle", {})
    for static in ("in_total", "nox_pm25_co"):
        idle.pop(static, None)
    if not idle.get("vehicle_s"):
        out.pop("idle", None)  # nobody idled: nothing to attribute
    return _three_digits(out)


def _three_digits(value: Any) -> Any:
    """Grams to 3 significant digits: the 95 % intervals are tens of per cent wide."""
    if isinstance(value, dict):
        return {k: _three_digits(v) for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
        return [float(f"{v:.3g}") for v in value]
    return value


_STATIC_KEYS = ("start_s", "end_s", "interval", "excluded")

"""Stage "emissions": the interval's traffic by class (the ``traffic`` section the analytics
stage closed just before) becomes grams of CO2, NOx, PM2.5 and CO with 95 % intervals; owns
``emissions``. Merged intervals add their grams and bounds (as if their errors were fully
correlated, which is conservative)."""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.sections import merge_by_key, register_section
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.section_schema import section_schema


def add_grams(x: Any, y: Any) -> Any:
    """Add [value, lo, hi] triples (and plain numbers) field by field."""
    if isinstance(x, list):
        return [float(f"{p + q:.4g}") for p, q in zip(x, y, strict=True)]
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return round(x + y, 4)
    if isinstance(x, dict):
        return merge_by_key(x, y, add_grams)
    return x


def merge_emissions(a: Any, b: Any, _ba: Any, _bb: Any) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    out = dict(a)
    for key in ("total", "by_class", "by_movement"):
        if key in a or key in b:
            out[key] = merge_by_key(a.get(key), b.get(key), add_grams)
    if "idle" in a and "idle" in b:
        idle = {**a["idle"], "vehicle_s": round(a["idle"]["vehicle_s"] + b["idle"]["vehicle_s"], 1),
                "co2_g": add_grams(a["idle"]["co2_g"], b["idle"]["co2_g"])}  # fmt: skip
        total_co2 = out["total"]["co2_g"][0]
        idle["co2_share"] = round(idle["co2_g"][0] / total_co2, 4) if total_co2 > 0 else None
        out["idle"] = idle
    for key in ("proxies", "defaults_used"):
        if key in a or key in b:
            out[key] = sorted(set(a.get(key, [])) | set(b.get(key, [])))
    return out


register_section("emissions", schema=section_schema("emissions"), merge=merge_emissions,
                 owner="emissions")  # fmt: skip


@register_stage
class EmissionsStage(Stage):
    name = "emissions"
    vehicles = True  # not built for a camera that counts no traffic (a fire lookout)
    sections = ("emissions",)

    def __init__(self, config: Any) -> None:
        self.config = config

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> EmissionsStage | None:
        return cls(camera.emissions) if camera.emissions is not None else None

    def process(self, packet: Packet) -> Packet:
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any] | None:
        traffic = self.context.closing.get("traffic")
        if not traffic:
            return None
        from carbonedge.runtime.traffic_emissions import interval_emissions  # numba

        return {"emissions": interval_emissions(traffic, self.config, start_s, end_s)}

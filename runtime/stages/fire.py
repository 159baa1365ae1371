"""Stage "fire": the fire/smoke monitor of a camera; alarms are stored at once; owns ``fire``."""

from __future__ import annotations

from typing import Any

from carbonedge.runtime.base.sections import register_section
from carbonedge.runtime.base.stage import Stage, StageContext, register_stage
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.section_schema import section_schema


def merge_fire(a: Any, b: Any, _ba: Any, _bb: Any) -> dict[str, Any] | None:
    if a is None or b is None:
        return a or b
    confidences = [c for c in (a["max_confidence"], b["max_confidence"]) if c is not None]
    return {
        "alarm_active": b["alarm_active"],
        "alarm_during_interval": a["alarm_during_interval"] or b["alarm_during_interval"],
        "alarms_started": a["alarms_started"] + b["alarms_started"],
        "alarm_events": a["alarm_events"] + b["alarm_events"],
        "classes": sorted(set(a["classes"]) | set(b["classes"])),
        "max_confidence": max(confidences) if confidences else None,
    }


register_section("fire", schema=section_schema("fire"), merge=merge_fire, owner="fire")


@register_stage
class FireStage(Stage):
    """Runs ``FireMonitor`` on every frame (``camera.fire`` set); a tower camera with no lines or
    zones runs no vehicle stages at all."""

    name = "fire"
    sections = ("fire",)

    def __init__(self, camera: Any) -> None:
        self.camera = camera

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> FireStage | None:
        return cls(camera) if camera.fire is not None else None

    def start(self, context: StageContext) -> None:
        super().start(context)
        from carbonedge.runtime.fire_stage import FireStage as FireMonitorStage  # scipy, numba

        masks = self.camera.masks
        scene = {context.camera_id: masks} if masks is not None else None
        self.monitor = FireMonitorStage(self.camera.fire, context.device_id, scene)
        self.monitor.warmup()

    def process(self, packet: Packet) -> Packet:
        alarms = self.monitor.update(packet.frame)
        if alarms:
            self.context.emit_now(alarms)  # stored and queued for the uplink at once
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any]:
        return {"fire": self.monitor.close_interval()}

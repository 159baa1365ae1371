"""Stage "fire": the fire/smoke monitor of a camera; owns the summary section ``fire``.

The alarm events are stored on the box and queued for the uplink as they happen (never only in
the summary). The interval section says whether an alarm was active at the interval's end or at
any time in it, how many alarms started and how many alarm events (start/update/end) were raised,
with their classes and peak confidence, so "no alarm" and "no fire camera" look different
upstream.
"""

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
        self._active = False
        self._new_interval()

    @classmethod
    def build(cls, camera: Any, context: StageContext) -> FireStage | None:
        return cls(camera) if camera.fire is not None else None

    def start(self, context: StageContext) -> None:
        super().start(context)
        from carbonedge.vision.fire import FireMonitor  # heavy: scipy, numba kernels

        masks = self.camera.masks
        scene = {context.camera_id: masks} if masks is not None else None
        self.monitor = FireMonitor(self.camera.fire, context.device_id, scene)
        self.monitor.warmup()

    def _new_interval(self) -> None:
        self._started = 0
        self._events = 0
        self._classes: set[str] = set()
        self._max_confidence: float | None = None
        self._active_in_interval = self._active

    def process(self, packet: Packet) -> Packet:
        alarms = self.monitor.update(packet.frame)
        for alarm in alarms:
            self._events += 1
            self._started += alarm.status == "start"
            self._active = alarm.status != "end"
            self._active_in_interval |= self._active
            self._classes.update(alarm.classes)
            if self._max_confidence is None or alarm.confidence > self._max_confidence:
                self._max_confidence = alarm.confidence
        if alarms:
            self.context.emit_now(alarms)  # stored and queued for the uplink at once
        return packet

    def close_interval(self, start_s: float, end_s: float) -> dict[str, Any]:
        peak = self._max_confidence
        section = {
            "alarm_active": self._active,
            "alarm_during_interval": self._active_in_interval,
            "alarms_started": self._started,
            "alarm_events": self._events,
            "classes": sorted(self._classes),
            "max_confidence": None if peak is None else round(peak, 3),
        }
        self._new_interval()
        return {"fire": section}

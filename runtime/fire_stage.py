"""The fire/smoke monitor as a pipeline stage: alarms per frame, a ``fire`` section per interval.

The interval section says whether an alarm was active at the interval's end, how many alarms
started and how many alarm events (start/update/end) were raised in it, with their classes and
peak confidence, so "no alarm" and "no fire camera" look different upstream. The alarm events
themselves are stored on the box and queued for the uplink as they happen (never only in the
summary).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbonedge.runtime.base.types import Frame
from carbonedge.vision.fire import FireMonitor, FireMonitorConfig
from carbonedge.vision.fire.events import FireAlarm
from carbonedge.vision.fire.scene import SceneCalibration

__all__ = ["FireStage"]


class FireStage:
    """One camera's fire/smoke monitor and its per-interval statistics."""

    def __init__(
        self,
        config: FireMonitorConfig,
        device_id: str,
        scene_calibration: Mapping[str, SceneCalibration] | None = None,
    ) -> None:
        self.monitor = FireMonitor(config, device_id, scene_calibration)
        self._active = False
        self._new_interval()

    def _new_interval(self) -> None:
        self._started = 0
        self._events = 0
        self._classes: set[str] = set()
        self._max_confidence: float | None = None
        self._active_in_interval = self._active

    def warmup(self) -> None:
        self.monitor.warmup()

    def update(self, frame: Frame) -> list[FireAlarm]:
        alarms = self.monitor.update(frame)
        for alarm in alarms:
            self._events += 1
            self._started += alarm.status == "start"
            self._active = alarm.status != "end"
            self._active_in_interval |= self._active
            self._classes.update(alarm.classes)
            if self._max_confidence is None or alarm.confidence > self._max_confidence:
                self._max_confidence = alarm.confidence
        return alarms

    def close_interval(self) -> dict[str, Any]:
        out = {
            "alarm_active": self._active,
            "alarm_during_interval": self._active_in_interval,
            "alarms_started": self._started,
            "alarm_events": self._events,
            "classes": sorted(self._classes),
            "max_confidence": None
            if self._max_confidence is None
            else round(self._max_confidence, 3),
        }
        self._new_interval()
        return out

    def forget(self, source_id: str) -> None:
        self.monitor.forget(source_id)

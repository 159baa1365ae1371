"""``FireAlarm``: one event of a fire/smoke alarm's life (start, update, end).

An alarm is one fire on one camera: it starts once, updates while it grows or moves (rate-limited)
and ends once. Every event carries the alarm's stable ``alarm_id`` (derived from device, camera and
start time) and its own stable ``id`` (``alarm_id`` + status + update number), so an upload repeated
after a restart is de-duplicated upstream and all events of one fire group together.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from carbonedge.runtime.base.events import stable_id, utc_iso

AlarmStatus = Literal["start", "update", "end"]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class FireBox:
    """One region of the alarm in frame pixels: ``xyxy`` (x1, y1, x2, y2), class, confidence."""

    xyxy: tuple[float, float, float, float]
    class_name: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "xyxy": [round(float(v), 1) for v in self.xyxy],
            "class_name": self.class_name,
            "confidence": round(float(self.confidence), 3),
        }


@dataclass(frozen=True, slots=True)
class FireAlarm:
    """A fire/smoke alarm event.

    Attributes:
        device_id, source_id: the box and the camera.
        status: "start", "update" or "end".
        update_seq: 0 for the start, 1.. for updates, and one more for the end.
        started_t_wall_s: UTC wall time of the alarm's start (seconds since the epoch).
        t_wall_s: UTC wall time of the frame that produced this event.
        frame_index: that frame's index in its source.
        classes: what was confirmed, e.g. ("smoke",) or ("fire", "smoke").
        confidence: 0-1, the confirmed track's mean detection confidence times its vote fraction.
        boxes: the alarm's regions in frame pixels (empty on "end" when nothing is seen any more).
        image_hw: (height, width) of the frame the boxes refer to.
        bearing_deg: compass bearing of the main box's centre (0 = north, clockwise), when the
            camera's azimuth calibration is configured; None otherwise.
        evidence_full_path / evidence_crop_path: JPEGs written on the box (full frame downscaled
            with the boxes drawn, and a crop around the main box); None when evidence is off.
        detector: which candidate source raised it ("pixels" or "ultralytics:<model file>").
        emissions: hook for the rough fire-emission estimate (E = A x B x CF x EF) from
            ``carbonedge.emissions``; None until it is wired in (a JSON-ready dict when set).
        alarm_id: stable id shared by every event of this alarm.
        id: stable id of this event.
    """

    device_id: str
    source_id: str
    status: AlarmStatus
    update_seq: int
    started_t_wall_s: float
    t_wall_s: float
    frame_index: int
    classes: tuple[str, ...]
    confidence: float
    boxes: tuple[FireBox, ...]
    image_hw: tuple[int, int]
    bearing_deg: float | None = None
    evidence_full_path: str | None = None
    evidence_crop_path: str | None = None
    detector: str = "pixels"
    emissions: dict[str, Any] | None = None
    alarm_id: str = field(default="", compare=False)
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.alarm_id:
            object.__setattr__(
                self,
                "alarm_id",
                stable_id(
                    "fire_alarm",
                    self.device_id,
                    self.source_id,
                    round(self.started_t_wall_s * 1000),
                ),  # fmt: skip
            )
        if not self.id:
            object.__setattr__(
                self,
                "id",
                stable_id(
                    "fire_alarm_event", self.alarm_id, self.status, self.update_seq
                ),  # fmt: skip
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the uplink's ``fire_alarm`` message, schema version 1)."""
        return {
            "kind": "fire_alarm",
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "alarm_id": self.alarm_id,
            "device_id": self.device_id,
            "source_id": self.source_id,
            "status": self.status,
            "update_seq": self.update_seq,
            "started_at": utc_iso(self.started_t_wall_s),
            "t_wall": utc_iso(self.t_wall_s),
            "frame_index": self.frame_index,
            "classes": list(self.classes),
            "confidence": round(float(self.confidence), 3),
            "boxes": [b.to_dict() for b in self.boxes],
            "image_width": int(self.image_hw[1]),
            "image_height": int(self.image_hw[0]),
            "bearing_deg": None if self.bearing_deg is None else round(self.bearing_deg, 2),
            "evidence": {"full": self.evidence_full_path, "crop": self.evidence_crop_path},
            "detector": self.detector,
            "emissions": self.emissions,
        }

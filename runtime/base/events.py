"""Events: small frozen dataclasses with a stable id.

The id is a UUIDv5 of the fields that identify the event, so producing the same event twice (after a
restart, or when an upload is repeated) yields the same id and upstream de-duplication works.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

_NAMESPACE = uuid.UUID("5d0c1c52-6f0e-4a55-9a38-7b1f6a3c2e10")


def stable_id(*parts: object) -> str:
    """Deterministic UUIDv5 string of ``parts`` joined by '/'."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(str(p) for p in parts)))


def _set_id(event: object, kind: str, *key: object) -> None:
    """Give a frozen event its stable id unless one was passed in."""
    if not event.id:  # type: ignore[attr-defined]
        object.__setattr__(event, "id", stable_id(kind, *key))


def utc_iso(t_wall_s: float) -> str:
    """Seconds since the epoch -> ISO 8601 UTC with millisecond precision and a 'Z'."""
    dt = datetime.fromtimestamp(t_wall_s, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class LineCrossed:
    """A confirmed track crossed a counting line.

    ``direction`` is "in" when the anchor moved from the line's left side to its right side (looking
    from ``start`` to ``end``), "out" for the opposite. ``class_name`` is the track's voted class
    when the crossing became final; ``speed_kmh`` its ground speed at the crossing (None without a
    ground-plane calibration).
    """

    device_id: str
    source_id: str
    line_id: str
    tracker_id: int
    direction: str
    class_name: str
    frame_index: int
    t_wall_s: float
    speed_kmh: float | None = None
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        # Tracker ids and frame indices restart with the process; the wall time (ms) keeps
        # crossings of different runs apart; a repeated upload of one crossing keeps its id.
        _set_id(self, "line_crossed", self.device_id, self.source_id, self.line_id,
                self.tracker_id, self.frame_index, round(self.t_wall_s * 1000))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "line_crossed", **asdict(self), "t_wall": utc_iso(self.t_wall_s)}


@dataclass(frozen=True, slots=True)
class CameraMoved:
    """A camera's view left its calibration snapshot (``status`` "moved": counts on its lines
    are not trusted) or came back to it ("restored"). ``shift_px`` (dx, dy) at the image centre
    and ``displacement_px`` (largest over the image, None when the frame size changed) are full
    resolution pixels; ``rotation_deg`` is counter-clockwise as seen; ``score`` (0..1) the edge
    agreement at the estimated motion; ``verdict`` the last check's; ``reference`` names the
    reference view (a calibration record's snapshot or an image file)."""

    device_id: str
    source_id: str
    status: str
    frame_index: int
    t_wall_s: float
    shift_px: tuple[float, float]
    rotation_deg: float
    displacement_px: float | None
    score: float
    verdict: str
    reference: str
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _set_id(self, "camera_moved", self.device_id, self.source_id, self.status,
                round(self.t_wall_s * 1000))  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "camera_moved", **asdict(self), "t_wall": utc_iso(self.t_wall_s)}


@dataclass(frozen=True, slots=True)
class CalibrationChanged:
    """The calibration record in force for a source differs from the one the box last reported.

    ``calibration_sha256`` is the new record's hash, ``previous_sha256`` the reported one's (None
    for a source's first record); ``target`` says what changed (``intrinsics``, ``homography``,
    ``lines``, ``zones``, ``sensor_zero_span``); ``t_wall_iso`` is when the record was made (ISO
    8601 UTC). The id is derived from device, source and both hashes: one event per transition,
    and going back to an earlier record is a transition of its own. ``to_dict`` is the
    ``calibration_change`` v1 body the uplink sends.
    """

    device_id: str
    source_id: str
    target: str
    calibration_sha256: str
    t_wall_iso: str
    previous_sha256: str | None = None
    reason: str = ""
    operator: str = ""
    reprojection_error_px: float | None = None
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _set_id(self, "calibration_change", self.device_id, self.source_id,
                self.previous_sha256 or "", self.calibration_sha256)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "calibration_change", "schema_version": 1, "id": self.id,
            "device_id": self.device_id, "source_id": self.source_id, "t_wall": self.t_wall_iso,
            "target": self.target, "calibration_sha256": self.calibration_sha256,
            "reason": self.reason[:256], "operator": self.operator[:64],
        }  # fmt: skip
        if self.previous_sha256 is not None:
            body["previous_sha256"] = self.previous_sha256
        if self.reprojection_error_px is not None:
            body["reprojection_error_px"] = self.reprojection_error_px
        return body


@dataclass(frozen=True, slots=True)
class IntervalSummary:
    """Counts of one source over one interval [start, end).

    ``counts`` maps line id -> direction -> class name -> vehicles. ``frames`` is the number of
    frames analysed, ``frame_errors`` the frames that failed (so "no traffic" and "detector down"
    look different upstream). ``partial`` marks an interval closed before its aligned end (end of
    file, shutdown). ``sections`` holds the optional sections by name, present only when the
    source measures them; each is owned by one pipeline stage and registered with its schema and
    compaction rule in ``carbonedge.runtime.base.sections`` (SCHEMA.md lists them all).
    ``calibration_id`` names the calibration record in force (``source@vN``). The id is
    derived from device, source and both interval bounds: a partial interval flushed at shutdown
    and the one started after a restart get different ids.
    """

    device_id: str
    source_id: str
    seq: int
    interval_start_s: float
    interval_end_s: float
    counts: dict[str, dict[str, dict[str, int]]]
    frames: int
    detector: str
    frame_errors: int = 0
    partial: bool = False
    sections: Mapping[str, Any] = field(default_factory=dict)
    calibration_id: str | None = None
    id: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        _set_id(self, "interval_summary", self.device_id, self.source_id,
                round(self.interval_start_s * 1000), round(self.interval_end_s * 1000))  # fmt: skip

    def total(self, line_id: str | None = None) -> int:
        lines = [line_id] if line_id else list(self.counts)
        return sum(
            n for lid in lines for d in self.counts.get(lid, {}).values() for n in d.values()
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "interval_summary",
            "schema_version": 1,
            "id": self.id,
            "device_id": self.device_id,
            "source_id": self.source_id,
            "seq": self.seq,
            "interval_start": utc_iso(self.interval_start_s),
            "interval_end": utc_iso(self.interval_end_s),
            "frames": self.frames,
            "frame_errors": self.frame_errors,
            "partial": self.partial,
            "detector": self.detector,
            "counts": self.counts,
            **({"calibration_id": self.calibration_id} if self.calibration_id is not None else {}),
            **{name: value for name, value in self.sections.items() if value is not None},
        }

    def section(self, name: str) -> Any:
        """The section ``name`` (None when the source does not measure it)."""
        return self.sections.get(name)

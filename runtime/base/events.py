"""Events: small frozen dataclasses with a stable id.

The id is a UUIDv5 of the fields that identify the event, so producing the same event twice (after a
restart, or when an upload is repeated) yields the same id and upstream de-duplication works.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

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
class IntervalSummary:
    """Counts of one source over one interval [start, end).

    ``counts`` maps line id -> direction -> class name -> vehicles. ``frames`` is the number of
    frames analysed, ``frame_errors`` the frames that failed (so "no traffic" and "detector down"
    look different upstream). ``partial`` marks an interval closed before its aligned end (end of
    file, shutdown). The optional sections are present only when the source measures them:
    ``line_speeds`` (line id -> vehicles, mean_kmh, p85_kmh of crossing speeds; needs a ground
    plane), ``traffic`` (class -> vehicles, observed_s, idle_s and, with a ground plane,
    distance_km, mean_speed_kmh, moving_speed_kmh), ``zones`` (zone id -> occupancy, queue, dwell
    and idle statistics), ``movements`` (``counts``: "origin->destination" -> class -> vehicles,
    ``incomplete``: origin -> vehicles that reached no destination), ``emissions`` and ``fire``
    (alarm state and events of a fire/smoke camera); a sensor's summary (``source_id`` is the
    sensor id, ``frames`` its readings) has ``sensor`` (mean/min/max per value);
    ``calibration_id`` names the calibration record in force (``source@vN``);
    ``calibration_valid`` (sources with a camera-moved check) is false when the view had moved
    away from its calibration snapshot at some time in the interval. The id is
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
    line_speeds: dict[str, dict[str, Any]] | None = None
    traffic: dict[str, dict[str, Any]] | None = None
    zones: dict[str, dict[str, Any]] | None = None
    movements: dict[str, dict[str, Any]] | None = None
    emissions: dict[str, Any] | None = None
    fire: dict[str, Any] | None = None
    sensor: dict[str, Any] | None = None
    calibration_id: str | None = None
    calibration_valid: bool | None = None
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
            **{
                name: value
                for name in _OPTIONAL_SECTIONS
                if (value := getattr(self, name)) is not None
            },
        }


_OPTIONAL_SECTIONS = (
    "line_speeds", "traffic", "zones", "movements", "emissions", "fire", "sensor", "calibration_id",
    "calibration_valid",
)  # fmt: skip

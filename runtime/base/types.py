"""Central data types: ``Frame``, columnar ``Detections`` and the stage-to-stage ``Packet``.

``Detections`` follows supervision's design: N rows, one NumPy array per column, fixed dtypes,
validated on construction; boolean or integer indexing slices every column together. It never holds
the image. ``source_row`` is the row index in the detector's output, carried through NMS, filtering
and tracking so that no stage re-matches boxes by IoU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Literal

import numpy as np
from numpy.typing import NDArray

Anchor = Literal["bottom_center", "center", "top_center"]


@dataclass(slots=True)
class Frame:
    """One decoded image from a source.

    Attributes:
        source_id: id of the source in the site config.
        index: 0-based frame number within the source (monotonic, never reset on reconnect).
        t_mono_s: timestamp on the source's own clock, seconds (media time for files, monotonic
            clock for live sources); analytics (speeds, dwell) use this.
        t_wall_s: UTC wall time, seconds since the epoch; summaries use this for interval bounds.
        image: (H, W, 3) uint8 BGR, C-contiguous.
        fps: nominal frame rate of the source (frames per second), used by frame-rate dependent
            settings such as tracker buffers.
    """

    source_id: str
    index: int
    t_mono_s: float
    t_wall_s: float
    image: NDArray[np.uint8]
    fps: float = 25.0

    @property
    def shape_hw(self) -> tuple[int, int]:
        return int(self.image.shape[0]), int(self.image.shape[1])


def _column(name: str, value: Any, dtype: np.dtype, n: int, width: int | None = None) -> NDArray:
    arr = np.ascontiguousarray(value, dtype=dtype)
    expected = (n,) if width is None else (n, width)
    if arr.shape != expected:
        raise ValueError(f"Detections.{name}: expected shape {expected}, got {arr.shape}")
    return arr


@dataclass(slots=True)
class Detections:
    """N detections in columns.

    Attributes:
        xyxy: (N, 4) float32, pixel corners (x1, y1, x2, y2) in the frame's coordinates.
        confidence: (N,) float32 in [0, 1].
        class_id: (N,) int32, index into the detector's ``class_names``.
        tracker_id: (N,) int64, -1 until a tracker assigns an id.
        source_row: (N,) int32, row of this detection in the detector's raw output.
        data: further per-row columns by name (supervision's ``Detections.data``): each an array
            with N rows, sliced together with the columns above; stages pass anchors, speeds or
            zone membership along this way (``detections.data["speed_kmh"]``).
    """

    xyxy: NDArray[np.float32]
    confidence: NDArray[np.float32]
    class_id: NDArray[np.int32]
    tracker_id: NDArray[np.int64] = field(default=None)  # type: ignore[assignment]
    source_row: NDArray[np.int32] = field(default=None)  # type: ignore[assignment]
    data: dict[str, NDArray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.ascontiguousarray(self.xyxy, dtype=np.float32)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            if xyxy.size == 0:
                xyxy = xyxy.reshape(0, 4)
            else:
                raise ValueError(f"Detections.xyxy: expected shape (N, 4), got {xyxy.shape}")
        n = xyxy.shape[0]
        self.xyxy = xyxy
        self.confidence = _column("confidence", self.confidence, np.float32, n)
        self.class_id = _column("class_id", self.class_id, np.int32, n)
        self.tracker_id = (
            np.full(n, -1, np.int64)
            if self.tracker_id is None
            else _column("tracker_id", self.tracker_id, np.int64, n)
        )
        self.source_row = (
            np.arange(n, dtype=np.int32)
            if self.source_row is None
            else _column("source_row", self.source_row, np.int32, n)
        )
        for name, column in self.data.items():
            column = np.asarray(column)
            if column.ndim == 0 or column.shape[0] != n:
                raise ValueError(
                    f"Detections.data[{name!r}]: expected {n} rows, got shape {column.shape}"
                )
            self.data[name] = column

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def concatenate(cls, parts: Iterable[Detections]) -> Detections:
        parts = list(parts)
        if not parts:
            return cls.empty()
        names = set(parts[0].data)
        if any(set(p.data) != names for p in parts):
            raise ValueError("Detections.concatenate: every part needs the same data columns")
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.confidence for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.tracker_id for p in parts]),
            np.concatenate([p.source_row for p in parts]),
            {name: np.concatenate([p.data[name] for p in parts]) for name in sorted(names)},
        )

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    def __getitem__(self, index: int | slice | NDArray) -> Detections:
        if isinstance(index, (int, np.integer)):
            index = np.array([index])
        return Detections(
            self.xyxy[index],
            self.confidence[index],
            self.class_id[index],
            self.tracker_id[index],
            self.source_row[index],
            {name: column[index] for name, column in self.data.items()},
        )

    def anchors_xy(self, anchor: Anchor = "bottom_center") -> NDArray[np.float32]:
        """(N, 2) float32 anchor points in pixels: bottom-centre (default), centre or top-centre."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) * 0.5
        if anchor == "bottom_center":
            y = self.xyxy[:, 3]
        elif anchor == "center":
            y = (self.xyxy[:, 1] + self.xyxy[:, 3]) * 0.5
        elif anchor == "top_center":
            y = self.xyxy[:, 1]
        else:
            raise ValueError(
                f"unknown anchor {anchor!r}; expected bottom_center, center or top_center"
            )
        return np.stack([x, y], axis=1).astype(np.float32, copy=False)


@dataclass(slots=True)
class Packet:
    """What moves between pipeline stages: a frame, its detections and the events it produced.

    Attributes:
        frame: the decoded frame.
        detections: the detections so far (the detector stage fills them, the tracker adds ids).
        events: events this frame produced (line crossings, zone events), in order.
        run_detector: False when a stage (the motion gate) found nothing new in the frame: the
            detector stage then reuses its last detections.
        roi_xyxy: the part of the frame the detector looks at, (x0, y0, x1, y1) px, or None for
            the whole frame (the ROI stage sets it).
        zoom_xyxy: windows (x0, y0, x1, y1) px the detector looks at again at a higher zoom,
            around the lines where road users stand small (the zoom stage sets them).
        ended_track_ids: tracks that ended with this frame (the tracker stage sets them; the
            pipeline then calls every stage's ``forget``).
        backfill_xyxy: tracker id -> (4,) box where a track first output on this frame was
            before it (the tracker stage's backfill; the line counters start from there).
        strided: a frame between detection strides (``runtime/stride.py``): no vehicle stage
            saw it; ``detections`` are the last tracked ones (for the annotated video).
        crossings_seen: line crossings of tracks seen on this frame, final or not (the
            analytics stage): (line id, direction, wall time s, box x0, y0, x1, y1 px, the
            track's class so far).
        crossings_dropped: crossings seen on an earlier frame that the line counter dropped when
            they became final (the analytics stage): (line id, direction, wall time s as seen).
    """

    frame: Frame
    detections: Detections = field(default_factory=Detections.empty)
    events: list[Any] = field(default_factory=list)
    run_detector: bool = True
    roi_xyxy: tuple[int, int, int, int] | None = None
    zoom_xyxy: tuple[tuple[int, int, int, int], ...] = ()
    ended_track_ids: list[int] = field(default_factory=list)
    backfill_xyxy: dict[int, Any] = field(default_factory=dict)
    strided: bool = False
    crossings_seen: list[tuple[str, str, float, float, float, float, float, str]] = field(
        default_factory=list
    )
    crossings_dropped: list[tuple[str, str, float]] = field(default_factory=list)

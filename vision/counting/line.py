"""Counting line: one ``LineCrossed`` event per track that crosses a line segment.

Sides and direction. For the directed segment ``start -> end`` with direction ``d`` and an anchor
point ``p``, the signed distance is ``cross(d, p - start) / |d|`` in image coordinates (x right,
y down). It is positive on the *right* of the segment as seen on screen when looking from ``start``
towards ``end``, and negative on the left. A crossing from the left (negative) side to the right
(positive) side is ``"in"``, the opposite is ``"out"``. Example: for ``start=(0, y0)``,
``end=(W, y0)`` (drawn left to right), the right side is *below* the line (larger y), so a vehicle
moving *down* the image counts ``"in"`` and one moving up counts ``"out"``. Swap start and end to
swap the directions.

Hysteresis. An anchor only has a side when it is at least ``hysteresis_px`` away from the line;
inside that band the last side is kept, so jitter on the line cannot produce a crossing. A crossing
is a change between the two sides; it counts if the point where the anchor path (straight between
consecutive observations) last met the line projects onto the segment, extended by
``end_tolerance_px`` at both ends. Each track counts at most once per line: the first counted
crossing; later ones (wobbling back and forth, stop-and-go) are ignored.

Per-track state is a few array slots keyed by tracker id; it is evicted by
:meth:`LineCounter.forget` (ids the tracker removed) and after ``forget_after_s`` without seeing
the track.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from carbonedge.runtime.events import LineCrossed
from carbonedge.runtime.types import Detections, Frame

logger = logging.getLogger(__name__)

__all__ = ["LineConfig", "LineCounter"]

_DIRECTIONS = ("in", "out")


class LineConfig(BaseModel):
    """A counting line in pixel coordinates of one source (see the module docstring for sides)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    start_px: tuple[float, float]
    end_px: tuple[float, float]
    anchor: Literal["bottom_center", "center", "top_center"] = "bottom_center"
    hysteresis_px: float = Field(2.0, ge=0.0)
    end_tolerance_px: float = Field(4.0, ge=0.0)
    forget_after_s: float = Field(60.0, gt=0.0)

    @model_validator(mode="after")
    def _check_length(self) -> LineConfig:
        if np.hypot(self.end_px[0] - self.start_px[0], self.end_px[1] - self.start_px[1]) < 1.0:
            raise ValueError(f"line {self.id!r}: start_px and end_px must be at least 1 px apart")
        return self


class LineCounter:
    """Counts confirmed tracks crossing one line, per direction and class.

    Attributes:
        counts: direction ("in", "out") -> class name -> crossings since construction.
    """

    def __init__(
        self, config: LineConfig, *, device_id: str, source_id: str, class_names: Sequence[str]
    ) -> None:
        self.config = config
        self.device_id = device_id
        self.source_id = source_id
        self.class_names = tuple(class_names)
        self.counts: dict[str, dict[str, int]] = {d: {} for d in _DIRECTIONS}
        self._start = np.asarray(config.start_px, np.float64)
        direction = np.asarray(config.end_px, np.float64) - self._start
        self._length_px = float(np.hypot(*direction))
        self._unit = direction / self._length_px
        self._slot: dict[int, int] = {}  # tracker id -> slot (row of the arrays below)
        self._free: list[int] = []  # free slots
        self._owner = np.zeros(0, np.int64)  # tracker id of each slot, -1 when free
        self._side = np.zeros(0, np.int8)  # -1 left, +1 right, 0 not yet known
        self._prev_xy = np.zeros((0, 2), np.float64)  # anchor at the previous observation, px
        self._prev_dist = np.zeros(0, np.float64)  # its signed distance, px (NaN: none yet)
        self._cross_px = np.zeros(0, np.float64)  # where the path last met the line, px along it
        self._seen_s = np.zeros(0, np.float64)  # source clock when last seen
        self._counted = np.zeros(0, bool)
        self._grow(16)

    # --- per-track state --------------------------------------------------------------------------
    def _grow(self, capacity: int) -> None:
        """Enlarge the slot arrays to ``capacity`` rows; the new rows are free."""
        old = len(self._owner)
        pad = capacity - old

        def padded(arr: NDArray, fill: float) -> NDArray:
            return np.concatenate([arr, np.full((pad, *arr.shape[1:]), fill, arr.dtype)])

        self._owner = padded(self._owner, -1)
        self._side = padded(self._side, 0)
        self._prev_xy = padded(self._prev_xy, 0.0)
        self._prev_dist = padded(self._prev_dist, np.nan)
        self._cross_px = padded(self._cross_px, np.nan)
        self._seen_s = padded(self._seen_s, 0.0)
        self._counted = padded(self._counted, False)
        self._free.extend(range(capacity - 1, old - 1, -1))

    def _slot_of(self, tracker_id: int) -> int:
        slot = self._slot.get(tracker_id)
        if slot is None:
            if not self._free:
                self._grow(2 * len(self._owner))
            slot = self._free.pop()
            self._slot[tracker_id] = slot
            self._owner[slot] = tracker_id
            self._side[slot] = 0
            self._prev_dist[slot] = np.nan
            self._cross_px[slot] = np.nan
            self._counted[slot] = False
        return slot

    def _release(self, slots: Iterable[int]) -> None:
        for slot in slots:
            del self._slot[int(self._owner[slot])]
            self._owner[slot] = -1
            self._free.append(int(slot))

    @property
    def tracked_state_count(self) -> int:
        """Tracks whose per-track state is held."""
        return len(self._slot)

    def forget(self, tracker_ids: Iterable[int]) -> None:
        """Evict the state of these tracks (for example ``ByteTrack.pop_removed()``)."""
        slots = [self._slot[i] for i in map(int, tracker_ids) if i in self._slot]
        self._release(slots)

    # --- counting ---------------------------------------------------------------------------------
    def _signed_distance(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """(K, 2) points -> (K,) signed distance to the line in px, > 0 on the right side."""
        rel = xy - self._start
        return self._unit[0] * rel[:, 1] - self._unit[1] * rel[:, 0]

    def _meet_px(self, p0: NDArray, d0: NDArray, p1: NDArray, d1: NDArray) -> NDArray:
        """(K,) position along the line, px from start, where the paths p0 -> p1 (signed distances
        d0, d1 on different sides) meet it."""
        u = d0 / (d0 - d1)
        return (p0 + u[:, None] * (p1 - p0) - self._start) @ self._unit

    def update(self, tracked: Detections, frame: Frame) -> list[LineCrossed]:
        """Advance every tracked row by one frame; return this frame's crossings.

        Args:
            tracked: tracker output (rows with ``tracker_id`` -1 are ignored); ``class_id`` indexes
                ``class_names`` (the tracker's voted class).
            frame: the frame these detections belong to (index, wall time for events, source
                clock ``t_mono_s`` for eviction).
        """
        self._evict_idle(frame.t_mono_s)
        rows = np.flatnonzero(tracked.tracker_id >= 0)
        if len(rows) == 0:
            return []
        ids = tracked.tracker_id[rows]
        slots = np.fromiter((self._slot_of(i) for i in ids.tolist()), np.int64, len(ids))
        xy = tracked.anchors_xy(self.config.anchor)[rows].astype(np.float64)
        dist = self._signed_distance(xy)
        # where the path since the previous observation met the line (raw sign change)
        prev_dist = self._prev_dist[slots]
        met = ~np.isnan(prev_dist) & ((prev_dist > 0) != (dist > 0))
        if met.any():
            self._cross_px[slots[met]] = self._meet_px(
                self._prev_xy[slots[met]], prev_dist[met], xy[met], dist[met]
            )
        self._prev_xy[slots] = xy
        self._prev_dist[slots] = dist
        # a side change beyond the hysteresis band is a crossing if it met the segment
        has_side = (np.abs(dist) >= self.config.hysteresis_px) & (dist != 0)
        side = np.where(has_side, np.sign(dist), 0).astype(np.int8)
        prev_side = self._side[slots]
        changed = has_side & (prev_side != 0) & (side != prev_side)
        tol = self.config.end_tolerance_px
        along = self._cross_px[slots]
        crossing = (
            changed & ~self._counted[slots] & (along >= -tol) & (along <= self._length_px + tol)
        )
        self._side[slots[has_side]] = side[has_side]
        self._seen_s[slots] = frame.t_mono_s
        self._counted[slots[crossing]] = True
        return [
            self._event(int(ids[k]), int(tracked.class_id[rows[k]]), side[k] > 0, frame)
            for k in np.flatnonzero(crossing)
        ]

    def _event(self, tracker_id: int, class_id: int, to_right: bool, frame: Frame) -> LineCrossed:
        direction = "in" if to_right else "out"
        if 0 <= class_id < len(self.class_names):
            class_name = self.class_names[class_id]
        else:
            class_name = f"class_{class_id}"
        per_class = self.counts[direction]
        per_class[class_name] = per_class.get(class_name, 0) + 1
        return LineCrossed(
            device_id=self.device_id,
            source_id=self.source_id,
            line_id=self.config.id,
            tracker_id=tracker_id,
            direction=direction,
            class_name=class_name,
            frame_index=frame.index,
            t_wall_s=frame.t_wall_s,
        )

    def _evict_idle(self, now_s: float) -> None:
        idle = np.flatnonzero(
            (self._owner >= 0) & (now_s - self._seen_s > self.config.forget_after_s)
        )
        if len(idle):
            logger.debug("line %s: evicting %d idle tracks", self.config.id, len(idle))
            self._release(idle.tolist())

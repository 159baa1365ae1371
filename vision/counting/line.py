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
crossing; later ones (wobbling back and forth, stop-and-go) are ignored. Only confirmed tracks
reach the counter (the tracker outputs nothing else), so a flickering false detection never counts.
A crossing must hold: if the track has been seen back on the side it came from for ``RECROSS_S``
or longer when the crossing becomes final (below), its box jumped over the line and back (a queued
bus whose box shrinks and grows, a waiting car's box jittering on the line), so the crossing is
dropped and the track may count later. A shorter return is kept: a vehicle that crossed and left
often ends its track with one box pulled back by the frame edge or an occluder. A track crossing
within ``DUPLICATE_S`` after another crossed the same way, its box and the other's overlapping by
``DUPLICATE_IOS`` of the smaller and both standing on the same ground (bottoms within
``DUPLICATE_BOTTOM`` of the smaller box's height), is a second box on that vehicle and does not
count on the line; a box inside another that stands higher is a road user beyond it. A
crossing of a track the tracker output on fewer than ``MIN_TRACK_FRAMES`` frames when it becomes
final is dropped too: a box confirmed for a moment on a merging motion blob or on the wrong one of
two road users, whose bottom jumped over the line as it grew or switched. Dropped crossings are
reported (``pop_dropped``), so the virtual loops can count the road user themselves.

Class vote. A track's class can flip (car/truck) while it is watched. A crossing is final, with
the track's voted class at that moment, when the first of these happens: ``class_vote_s`` passed
since the crossing, the tracker removed the track (:meth:`LineCounter.forget`), or the interval
closes (:meth:`LineCounter.flush`). The tracker's vote is confidence-weighted over the whole
track, so a track counts once, with its majority class over what was seen up to then.

Per-track state lives in a :class:`~carbonedge.vision.track_state.TrackTable`; it is evicted by
:meth:`LineCounter.forget` (ids the tracker removed) and after ``forget_after_s`` without seeing
the track. The per-frame observation is one compiled call (``carbonedge.kernels._line_nb``,
Numba); :class:`~carbonedge.vision.counting._line_ref.ReferenceLineCounter` is its NumPy
reference.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from carbonedge.calibration.geometry import LineConfig
from carbonedge.kernels import ANCHOR_CODES, line_observe_kernel
from carbonedge.kernels.geometry import intersection_over_area
from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.track_state import TrackTable

logger = logging.getLogger(__name__)

__all__ = ["LineConfig", "LineCounter"]

_DIRECTIONS = ("in", "out")
#: A pending crossing whose track has been seen back on its old side this long (s) is dropped.
#: Measured on the dev truth clips (every pending crossing whose track went back): true crossings
#: were back 0.03, 0.07 and 0.20 s (the track's last boxes, pulled back as it left); jumping boxes
#: 0.37, 0.92 and 1.63 s (a queued bus, a waiting car, a car's box on a far ramp), and a dusk
#: motion blob merging two cars 0.73 s.
RECROSS_S = 0.3
#: A track crossing within DUPLICATE_S (s) after another crossed the same way, its box and the
#: other's overlapping by DUPLICATE_IOS of the smaller one, is a second box on that vehicle (a
#: lorry's "truck" box around its "van" box, confirmed as a track of its own): not counted, when
#: both boxes stand on the same ground (bottoms within DUPLICATE_BOTTOM of the smaller box's
#: height). A box inside another whose bottom is higher is a road user beyond it, seen over it:
#: on the dev clips, the far-lane car right behind a near-lane one at the night Piccadilly
#: junction (box bottoms 14-20 px apart, 10-13 px tall) and a pedestrian there (and two
#: pedestrian crossings the hand count does not have); no other clip changed.
DUPLICATE_S = 0.3
DUPLICATE_IOS = 0.7
DUPLICATE_BOTTOM = 0.5
#: A crossing whose track was output on fewer frames than this when it becomes final is dropped.
#: Measured on the dev truth clips (every counted crossing, tracks by output frames): 1-3 frames
#: were 5 crossings that matched no truth (boxes on merging dusk/glare motion blobs, a box that
#: jumped to the vehicle behind, one frame of a track) and 2 that did (a glare motion blob and a
#: 160x120 car, both small enough for the loops); the next shortest, 6-7 frames, include true ones.
MIN_TRACK_FRAMES = 4
_NO_SLOTS = np.zeros(0, np.int64)


@dataclass(frozen=True, slots=True)
class _Pending:
    """A crossing whose class is still being voted on."""

    direction: str
    frame_index: int
    t_wall_s: float
    t_mono_s: float
    speed_kmh: float | None


class LineCounter:
    """Counts confirmed tracks crossing one line, per direction and class.

    Attributes:
        counts: direction ("in", "out") -> class name -> final crossings since construction.
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
        self._state = TrackTable(
            {
                "side": ((), np.int8, 0),  # -1 left, +1 right, 0 not yet known
                "prev_xy": ((2,), np.float64, 0.0),  # anchor at the previous observation, px
                "prev_dist": ((), np.float64, np.nan),  # its signed distance, px (NaN: none)
                "cross_px": ((), np.float64, np.nan),  # where the path last met the line
                "counted": ((), bool, False),
                "class_id": ((), np.int32, -1),  # the tracker's voted class, last seen
                "frames": ((), np.int32, 0),  # frames the tracker output the track on
            }
        )
        self._pending: dict[int, _Pending] = {}  # tracker id -> crossing awaiting its class
        self._back_since: dict[int, float] = {}  # pending id -> seen back on its old side since
        #: Crossings as they are seen (before their class is final, whether or not they end up
        #: counted): (direction, wall time s, box x0, y0, x1, y1 px); the owner drains it
        #: (``pop_seen``). Virtual loops (``vision/counting/loops.py``) leave these road users
        #: to the counter.
        self._seen: list[tuple[str, float, float, float, float, float, str]] = []
        #: Seen crossings dropped when they became final: (direction, wall time s); ``pop_dropped``.
        self._dropped: list[tuple[str, float]] = []
        self._kernel = line_observe_kernel()
        self._anchor_code = ANCHOR_CODES[config.anchor]
        self._geometry = np.array(
            [*self._start, *self._unit, self._length_px, config.hysteresis_px,
             config.end_tolerance_px],
            np.float64,
        )  # fmt: skip
        self._crossings = np.empty((16, 2), np.int64)  # (row, side) written by the kernel
        self._observe_rows(np.zeros((0, 4), np.float32), np.zeros(0, np.int32), _NO_SLOTS)

    def _observe_rows(self, xyxy: NDArray, class_id: NDArray, slots: NDArray[np.int64]) -> int:
        """Run the compiled step on rows with these slots; returns the crossings written.

        The constructor calls it with no rows, so Numba compiles (or loads its cache) before the
        first frame rather than on the first tracked one.
        """
        if len(self._crossings) < len(slots):
            self._crossings = np.empty((2 * len(slots), 2), np.int64)
        st = self._state
        return self._kernel(
            xyxy, class_id, slots, self._anchor_code, self._geometry, st["side"], st["prev_xy"],
            st["prev_dist"], st["cross_px"], st["counted"], st["class_id"], self._crossings,
        )  # fmt: skip

    def pop_seen(self) -> list[tuple[str, float, float, float, float, float, str]]:
        """The crossings seen since the last call: (direction, wall time s, box x0, y0, x1, y1,
        the track's voted class so far)."""
        seen, self._seen = self._seen, []
        return seen

    def pop_dropped(self) -> list[tuple[str, float]]:
        """Crossings seen (``pop_seen``) and dropped since the last call: (direction, wall time
        s of the crossing, as seen)."""
        dropped, self._dropped = self._dropped, []
        return dropped

    @property
    def tracked_state_count(self) -> int:
        """Tracks whose per-track state is held."""
        return len(self._state)

    @property
    def pending_count(self) -> int:
        """Crossings detected but not final yet (class vote still open)."""
        return len(self._pending)

    # --- counting ---------------------------------------------------------------------------------
    def update(
        self, tracked: Detections, frame: Frame, speed_kmh: NDArray[np.float64] | None = None
    ) -> list[LineCrossed]:
        """Advance every tracked row by one frame; return the crossings that became final.

        Args:
            tracked: tracker output (rows with ``tracker_id`` -1 are ignored); ``class_id`` indexes
                ``class_names`` (the tracker's voted class). A frame's tracker ids are distinct.
            frame: the frame these detections belong to (index, wall time for events, source
                clock ``t_mono_s`` for eviction and the class vote window).
            speed_kmh: optional (N,) speed per row (NaN: unknown), carried into the crossing.
        """
        done = self._evict_idle(frame.t_mono_s)
        if len(tracked):
            rows = np.flatnonzero(tracked.tracker_id >= 0)
            if len(rows):
                self._observe(tracked, rows, frame, speed_kmh)
        if self._pending:
            self._watch_returns(frame.t_mono_s)
            done += self._resolve(
                [tid for tid, p in self._pending.items()
                 if frame.t_mono_s - p.t_mono_s >= self.config.class_vote_s]
            )  # fmt: skip
        return done

    def prime(self, tracker_ids: NDArray, xyxy: NDArray, class_id: NDArray, frame: Frame) -> None:
        """Tracks seen for the first time on ``frame`` were at ``xyxy`` before it (their
        backfilled past, ``vision/tracking/backfill.py``): observed now, before the frame's own
        boxes, so a path from there across the line counts. A track already held is left as
        it is."""
        new = np.flatnonzero([self._state.slot(int(t)) is None for t in tracker_ids])
        if len(new) == 0:
            return
        ids = np.asarray(tracker_ids, np.int64)[new]
        slots = self._state.slots_for(ids, frame.t_mono_s)
        self._observe_rows(np.asarray(xyxy, np.float32)[new], np.asarray(class_id)[new], slots)

    def _observe(
        self, tracked: Detections, rows: NDArray, frame: Frame, speed_kmh: NDArray | None
    ) -> None:
        """Sides, path meeting points and crossings of ``rows`` (one compiled call)."""
        st = self._state
        if len(rows) == len(tracked):  # the usual case: the tracker outputs tracked rows only
            ids, xyxy, class_id = tracked.tracker_id, tracked.xyxy, tracked.class_id
        else:
            ids, xyxy, class_id = (
                tracked.tracker_id[rows],
                tracked.xyxy[rows],
                tracked.class_id[rows],
            )
        slots = st.slots_for(ids, frame.t_mono_s)
        st["frames"][slots] += 1
        n = self._observe_rows(xyxy, class_id, slots)
        for k, side in self._crossings[:n].tolist():
            v = None if speed_kmh is None else float(speed_kmh[rows[k]])
            self._new_crossing(k, side, ids, xyxy, frame, v)

    def _new_crossing(
        self, k: int, side: int, ids: NDArray, xyxy: NDArray, frame: Frame, speed: float | None
    ) -> None:
        """Row ``k`` of this frame's ``ids``/``xyxy`` crossed to ``side``: pending, unless it is
        a second box on a vehicle that just crossed (``DUPLICATE_S``, ``DUPLICATE_IOS``)."""
        direction = "in" if side > 0 else "out"
        for tid, p in self._pending.items():
            if p.direction != direction or frame.t_mono_s - p.t_mono_s > DUPLICATE_S:
                continue
            twin = np.flatnonzero(ids == tid)[:1]
            if len(twin) and _same_road_user(xyxy[k], xyxy[twin[0]]):
                logger.debug("line %s: track %d crossed inside track %d's box; not counted",
                             self.config.id, int(ids[k]), tid)  # fmt: skip
                return  # its "counted" stays set: this track never counts on this line
        slot = self._state.slot(int(ids[k]))
        class_id = -1 if slot is None else int(self._state["class_id"][slot])
        self._seen.append((direction, frame.t_wall_s, *map(float, xyxy[k]),
                           self._class_name(class_id)))  # fmt: skip
        self._pending[int(ids[k])] = _Pending(
            direction, frame.index, frame.t_wall_s, frame.t_mono_s,
            None if speed is None or not np.isfinite(speed) else round(speed, 1),
        )  # fmt: skip

    def _watch_returns(self, now_s: float) -> None:
        """Note when a pending crossing's track was first seen back on its old side (forgotten
        when it is seen on the crossed-to side again); tracks not seen now are left as they are."""
        st = self._state
        for tid, pending in self._pending.items():
            slot = st.slot(tid)
            if slot is None or st["seen_s"][slot] != now_s:
                continue
            if st["side"][slot] == (1 if pending.direction == "in" else -1):
                self._back_since.pop(tid, None)
            else:
                self._back_since.setdefault(tid, now_s)

    def _resolve(self, tracker_ids: Iterable[int]) -> list[LineCrossed]:
        """Make these ids' pending crossings final with the track's last voted class (or drop
        those whose track has been back on its old side for ``RECROSS_S``, or was output on
        fewer than ``MIN_TRACK_FRAMES`` frames)."""
        out = []
        st = self._state
        for tid in tracker_ids:
            pending = self._pending.pop(tid, None)
            if pending is None:
                continue
            slot = st.slot(tid)
            back_since = self._back_since.pop(tid, None)
            why = None
            if slot is not None and back_since is not None \
                    and st["seen_s"][slot] - back_since >= RECROSS_S:  # fmt: skip
                # its box jumped over the line and back (reshaped on a queued or occluded
                # vehicle)
                why = f"seen back over the line for {st['seen_s'][slot] - back_since:.2f} s"
            elif slot is not None and st["frames"][slot] < MIN_TRACK_FRAMES:
                # seen for a moment: a box on a merging blob or switching road users
                why = f"output on {int(st['frames'][slot])} frames"
            if why is not None:  # not a crossing; a later one of the track counts
                st["counted"][slot] = False
                logger.debug("line %s: track %d %s; %s crossing at frame %d dropped",
                             self.config.id, tid, why, pending.direction,
                             pending.frame_index)  # fmt: skip
                self._dropped.append((pending.direction, pending.t_wall_s))
                continue
            class_id = -1 if slot is None else int(st["class_id"][slot])
            out.append(self._event(tid, class_id, pending))
        return out

    def _class_name(self, class_id: int) -> str:
        if 0 <= class_id < len(self.class_names):
            return self.class_names[class_id]
        return f"class_{class_id}"

    def _event(self, tracker_id: int, class_id: int, p: _Pending) -> LineCrossed:
        class_name = self._class_name(class_id)
        per_class = self.counts[p.direction]
        per_class[class_name] = per_class.get(class_name, 0) + 1
        return LineCrossed(
            device_id=self.device_id,
            source_id=self.source_id,
            line_id=self.config.id,
            tracker_id=tracker_id,
            direction=p.direction,
            class_name=class_name,
            frame_index=p.frame_index,
            t_wall_s=p.t_wall_s,
            speed_kmh=p.speed_kmh,
        )

    # --- end of tracks and intervals --------------------------------------------------------------
    def forget(self, tracker_ids: Iterable[int]) -> list[LineCrossed]:
        """The tracker removed these tracks: finalise their crossings and evict their state."""
        ids = [int(i) for i in tracker_ids]
        done = self._resolve(ids)
        self._state.release(ids)
        return done

    def flush(self) -> list[LineCrossed]:
        """Finalise every pending crossing now (interval end, shutdown)."""
        return self._resolve(list(self._pending))

    def _evict_idle(self, now_s: float) -> list[LineCrossed]:
        idle = self._state.idle_ids(now_s, self.config.forget_after_s)
        if not idle:
            return []
        logger.debug("line %s: evicting %d idle tracks", self.config.id, len(idle))
        return self.forget(idle)


def _same_road_user(a: NDArray, b: NDArray) -> bool:
    """Boxes ``a`` and ``b`` (4,) on one road user: the smaller lies ``DUPLICATE_IOS`` inside the
    other and both stand on the same ground (bottoms within ``DUPLICATE_BOTTOM`` of the smaller
    one's height; a road user beyond the other, seen over it, stands higher)."""
    if _inside_smaller(a[None], b[None]) < DUPLICATE_IOS:
        return False
    smaller_h = min(a[3] - a[1], b[3] - b[1])
    return bool(abs(a[3] - b[3]) <= DUPLICATE_BOTTOM * smaller_h)


def _inside_smaller(a: NDArray, b: NDArray) -> float:
    """How much of the smaller of the (1, 4) boxes ``a`` and ``b`` lies inside the other."""
    return float(max(intersection_over_area(a, b)[0, 0], intersection_over_area(b, a)[0, 0]))

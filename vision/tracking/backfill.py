"""Track backfill: a track confirmed now takes back the boxes it left before it was confirmed.

Why. A road user far from the camera is detected weakly or not at all (on the Dhaka arterial
dev clip PicoDet scores a rider 10 px wide 0.15-0.3 and the same rider 30 px wide 0.5-0.7), so
its track starts only once it is near enough; at a counting line drawn at the far end of the
view that is often just past the line, and the line never sees it cross. ByteTrack uses
low-score boxes only to continue tracks that exist; none is born from them.

What. ``Backfill`` keeps, for the last ``window_s`` seconds, the boxes no confirmed track took
(low-score boxes, and the boxes of tracks not confirmed yet). When a track is confirmed, its
box is followed back through them frame by frame: in each older frame the unused box with the
best IoU (at least ``min_iou``) with the chain's box, moved back by the velocity the chain has
shown so far; up to ``max_gap_frames`` frames in a row may have none. The oldest box of the
chain is the track's *previous position*: the line counters observe it before the track's
first box (``LineCounter.prime``), so a track whose chain crosses a line counts, once, on the
frame it is confirmed. Each stored box serves at most one chain, and a box a confirmed track
took is never stored, nor one lying ``max_inside_tracked`` (0.6 of its area) inside a box a
confirmed track took (a second, partial box on one vehicle: the front of a bus), so a track
cannot inherit the path of a track that was counted already. Nor may a chain go on through a
box more than ``max_grow`` times the area of the chain's box that holds ``max_inside_tracked`` of
a box a confirmed track took on that frame: a loose low-score box around a tracked road user
(and the road or neighbours about it), not this one's own past. Without it the second box on a
lorry (its box body, under its own label) was carried down through such boxes to the line the
lorry itself crossed a frame later, and counted a second time.

Cost: the boxes of ``window_s`` seconds (tens per frame) and, per confirmed track, one IoU row
per older frame; nothing at all on frames where no track is confirmed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import box_iou
from carbonedge.kernels.geometry import intersection_over_area
from carbonedge.runtime.base.types import Detections

__all__ = ["Backfill"]


@dataclass
class _Frame:
    index: int
    xyxy: NDArray[np.float32]  # (M, 4) boxes no confirmed track took
    used: NDArray[np.bool_]  # taken by a chain already
    tracked: NDArray[np.float32]  # (T, 4) the confirmed tracks' boxes


@dataclass
class Backfill:
    """Per source: the unmatched boxes of the last ``window_frames`` frames and the ids seen."""

    window_frames: int
    min_iou: float = 0.3
    max_gap_frames: int = 2
    max_inside_tracked: float = 0.6
    max_grow: float = 2.0
    _frames: deque = field(init=False)
    _seen: set[int] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        if self.window_frames < 1:
            raise ValueError(f"Backfill: window_frames must be >= 1, got {self.window_frames}")
        self._frames = deque(maxlen=self.window_frames)

    def update(
        self, frame_index: int, detections: Detections, tracked: Detections, taken_rows: NDArray
    ) -> dict[int, NDArray[np.float32]]:
        """One frame: ``detections`` went into the tracker, ``tracked`` came out, its rows are
        the input rows ``taken_rows``. Returns {tracker id: oldest box of its chain} for the
        tracks seen for the first time this frame whose chain reaches at least one frame back;
        then stores this frame's boxes no confirmed track took."""
        out: dict[int, NDArray[np.float32]] = {}
        for k in range(len(tracked)):
            tid = int(tracked.tracker_id[k])
            if tid < 0 or tid in self._seen:
                continue
            self._seen.add(tid)
            oldest = self._chain(frame_index, tracked.xyxy[k])
            if oldest is not None:
                out[tid] = oldest
        free = np.ones(len(detections), np.bool_)
        free[np.asarray(taken_rows, np.int64)] = False
        if len(tracked) and free.any():  # part of a tracked road user (a bus's front): not kept
            inside = intersection_over_area(detections.xyxy[free], tracked.xyxy).max(axis=1)
            free[np.flatnonzero(free)[inside >= self.max_inside_tracked]] = False
        boxes = np.ascontiguousarray(detections.xyxy[free], np.float32)
        held = np.ascontiguousarray(tracked.xyxy, np.float32).reshape(-1, 4)
        self._frames.append(_Frame(frame_index, boxes, np.zeros(len(boxes), np.bool_), held))
        return out

    def forget(self, tracker_ids) -> None:
        """Tracks that ended: their ids are never output again."""
        self._seen.difference_update(tracker_ids)

    def reset(self) -> None:
        self._frames.clear()
        self._seen.clear()

    def _chain(self, frame_index: int, xyxy: NDArray) -> NDArray[np.float32] | None:
        box = np.asarray(xyxy, np.float64)
        box_frame = frame_index
        velocity = np.zeros(4)  # px per frame, of each box side, towards the present
        oldest = None
        for past in reversed(self._frames):
            steps = box_frame - past.index
            if not 0 < steps <= self.max_gap_frames + 1:  # a gap, or frame numbers restarted
                break
            free = np.flatnonzero(~past.used)
            if len(free) and len(past.tracked):  # loose boxes around a tracked road user
                cand = past.xyxy[free].astype(np.float64)
                area = np.prod(np.clip(cand[:, 2:] - cand[:, :2], 0, None), axis=1)
                grown = area > self.max_grow * float(np.prod(np.clip(box[2:] - box[:2], 0, None)))
                if grown.any():
                    holds = intersection_over_area(past.tracked, past.xyxy[free[grown]]).max(axis=0)
                    free = np.delete(free, np.flatnonzero(grown)[holds >= self.max_inside_tracked])
            if len(free) == 0:
                continue
            predicted = (box - velocity * steps)[None].astype(np.float32)
            iou = box_iou(predicted, past.xyxy[free])[0]
            best = int(np.argmax(iou))
            if iou[best] < self.min_iou:
                continue
            row = free[best]
            past.used[row] = True
            found = past.xyxy[row].astype(np.float64)
            velocity = (box - found) / steps
            box, box_frame, oldest = found, past.index, past.xyxy[row].copy()
        return oldest

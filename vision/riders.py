"""A tracked "person" moving at vehicle speed is a rider: its track becomes a two-wheeler.

COCO detectors see the rider of a motorcycle or bicycle far more often than the machine under
them (on compressed 352x288 and dense-traffic pictures the motorcycle box is often missing or
scores under 0.3 while the rider scores 0.3-0.75). Speed tells them apart without a ground plane,
measured in the track's own box heights per second (scale-free: a person 20 px tall far away and
100 px tall near the camera walk the same number of heights per second):

- people walk 1.2-1.5 m/s and stand 1.6-1.8 m tall: about 0.8 heights/s, a brisk walk or a jog
  1.0-1.7;
- a cyclist rides 4-7 m/s, a motorcycle in free-flowing town traffic 5-15 m/s, and a seated
  rider's box is 1.2-1.6 m tall: 2.5-10 heights/s (in a queue or at a junction much less:
  riders measured 1.6-1.9).

A seated rider's box is also squat: height/width 1.0-2.0 (rider astride, or side-on with the
machine) where a walker's is 2.5-3.8 (per-track medians measured on the truth clips). So a track
is a rider when it moves at ``speed_heights_per_s`` (2.5: faster than any walker measured, 2.1
at most), or when its box is squat (median height/width at most ``squat_max_aspect``, 1.6) and
it moves faster than walkers do (``squat_speed_heights_per_s``, 1.3; walkers measured 0.5-1.25).

A slower, upright rider (riders seen head-on in a queue) is told by where it goes: a pedestrian
track that moves at least ``flow_speed_heights_per_s`` along the axis the vehicle tracks moved
along in the same patch of the picture (``vision/flow_field.py``: at least ``flow_min_steps``
vehicle steps there, coherence at least ``flow_min_coherence``, the move within
``flow_max_angle_deg`` of their axis) is a rider. Walkers cross the carriageway across the
traffic, or walk on the pavement where no vehicle moves.

``RiderSpeeds`` keeps, per pedestrian track, the bottom-centre and height of its last
``window_s`` seconds; once the displacement over at least ``min_span_s`` (a short span is
mostly box jitter and identity switches) reaches
``speed_heights_per_s`` the track is a rider for good and its rows are relabelled to the
two-wheeler class (the line counter takes the track's last class). State is dropped when a track
ends (``forget``) and capped at ``max_tracks``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from carbonedge.runtime.base.types import Detections
from carbonedge.vision.flow_field import FlowField

__all__ = ["RiderSpeeds"]


@dataclass
class _Track:
    points: deque = field(default_factory=lambda: deque(maxlen=64))  # (t_s, x_px, y_px, h_px)
    max_speed: float = 0.0
    aspects: deque = field(default_factory=lambda: deque(maxlen=64))  # box height / width


@dataclass
class RiderSpeeds:
    """Relabels fast pedestrian tracks (``pedestrian`` class id) as ``rider`` class id."""

    pedestrian: int
    rider: int
    speed_heights_per_s: float = 2.5
    squat_speed_heights_per_s: float = 1.3
    squat_max_aspect: float = 1.6
    window_s: float = 1.0
    min_span_s: float = 0.8
    #: class ids whose tracks make the flow (the road vehicles; not the unclassed motion blobs,
    #: which at night also follow crowds on a crossing)
    vehicles: tuple[int, ...] = ()
    flow_speed_heights_per_s: float | None = 0.5
    flow_min_steps: int = 3
    flow_min_coherence: float = 0.6
    flow_max_angle_deg: float = 30.0
    #: the flow learns from every n-th frame's vehicles (steps are half a box height: a few
    #: frames apart but for fast traffic; a quarter of the per-row work)
    flow_every: int = 4
    max_tracks: int = 4096
    _tracks: dict[int, _Track] = field(default_factory=dict, init=False)
    _riders: set[int] = field(default_factory=set, init=False)
    _flow: FlowField | None = field(default=None, init=False)
    _frames: int = field(default=0, init=False)

    def __call__(
        self, tracked: Detections, t_s: float, frame_hw: tuple[int, int] | None = None
    ) -> Detections:
        """``tracked``: tracker output (``tracker_id`` -1 rows ignored), ``t_s`` the frame time,
        ``frame_hw`` the picture's size (None: no flow rule). Rows of rider tracks get
        ``class_id = rider`` (in place; returned)."""
        if len(tracked) == 0:
            return tracked
        ids = tracked.tracker_id
        self._frames += 1
        flow_on = frame_hw is not None and self.flow_speed_heights_per_s is not None
        if flow_on and self._frames % self.flow_every == 0:
            self._observe_vehicles(tracked, frame_hw)  # type: ignore[arg-type]
        walkers = (tracked.class_id == self.pedestrian) & (ids >= 0)
        if not self._riders and not walkers.any():  # most frames: no pedestrian, no rider
            return tracked
        for row in np.flatnonzero(walkers):
            tid = int(ids[row])
            if tid in self._riders:
                continue
            x0, y0, x1, y1 = (float(v) for v in tracked.xyxy[row])
            if self._observe(tid, t_s, 0.5 * (x0 + x1), y1, y1 - y0, x1 - x0):
                self._riders.add(tid)
        if self._riders:
            rows = np.flatnonzero(np.isin(ids, np.fromiter(self._riders, np.int64)))
            tracked.class_id[rows] = self.rider
        return tracked

    def _observe(self, tid: int, t_s: float, x: float, y: float, h: float, w: float) -> bool:
        track = self._tracks.get(tid)
        if track is None:
            if len(self._tracks) >= self.max_tracks:  # an edge box runs for months
                self._tracks.pop(next(iter(self._tracks)))
            track = self._tracks[tid] = _Track()
        pts = track.points
        pts.append((t_s, x, y, max(h, 1.0)))
        track.aspects.append(max(h, 1.0) / max(w, 1.0))
        while pts and t_s - pts[0][0] > self.window_s:
            pts.popleft()
        span = t_s - pts[0][0]
        if span < self.min_span_s:
            return False
        dist = float(np.hypot(x - pts[0][1], y - pts[0][2]))
        height = float(np.median([p[3] for p in pts]))
        track.max_speed = max(track.max_speed, dist / span / height)
        if track.max_speed >= self.speed_heights_per_s:
            return True
        squat = float(np.median(track.aspects)) <= self.squat_max_aspect
        if squat and track.max_speed >= self.squat_speed_heights_per_s:
            return True
        return self._along_traffic(x, y, x - pts[0][1], y - pts[0][2], dist / span / height)

    def _observe_vehicles(self, tracked: Detections, frame_hw: tuple[int, int]) -> None:
        """Every tracked vehicle's bottom centre into the flow field (made for this picture)."""
        if self._flow is None or self._flow.frame_hw != tuple(frame_hw):
            self._flow = FlowField(tuple(frame_hw))  # type: ignore[arg-type]
        rows = np.flatnonzero(np.isin(tracked.class_id, self.vehicles) & (tracked.tracker_id >= 0))
        if not len(rows):
            return
        xyxy, ids = tracked.xyxy[rows].tolist(), tracked.tracker_id[rows].tolist()
        observe = self._flow.observe
        for (x0, y0, x1, y1), tid in zip(xyxy, ids, strict=True):
            observe(tid, 0.5 * (x0 + x1), y1, y1 - y0)

    def _along_traffic(self, x: float, y: float, dx: float, dy: float, speed: float) -> bool:
        """Is a walker's move (dx, dy) at ``speed`` heights/s one along the vehicles' axis?"""
        if self._flow is None or self.flow_speed_heights_per_s is None:
            return False
        if speed < self.flow_speed_heights_per_s:
            return False
        steps, coherence, along = self._flow.along(x, y, dx, dy)
        return (
            steps >= self.flow_min_steps
            and coherence >= self.flow_min_coherence
            and along >= math.cos(math.radians(self.flow_max_angle_deg))
        )

    def measures(self, tid: int) -> tuple[float, float] | None:
        """(highest speed in heights/s, median box height/width) of a live pedestrian track."""
        track = self._tracks.get(tid)
        if track is None:
            return None
        return track.max_speed, float(np.median(track.aspects)) if track.aspects else 0.0

    def forget(self, track_ids) -> None:
        if self._flow is not None:
            self._flow.forget(track_ids)
        for tid in track_ids:
            self._tracks.pop(int(tid), None)
            self._riders.discard(int(tid))

"""Zones: polygons on the image where vehicles are counted, queue, dwell and idle.

Per interval and zone: mean and peak occupancy (vehicles inside, sampled every frame), mean and
peak queue (vehicles inside that are stopped), the vehicles that entered, and for vehicles that
left: mean and max dwell time and their idle time (time inside while stopped). Idle vehicle-seconds
are also reported for vehicles still inside when the interval closes, so idling is never lost.
A zone with a ``movement`` role is also an origin (``entry``), a destination (``exit``) or both
for turning-movement counts (see ``movements``).

Membership is tested on the track's anchor (bottom-centre by default) with a vectorised
even-odd rule over the polygon edges; per-track state is a ``TrackTable`` row with one column
entry per zone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from carbonedge.calibration.geometry import ZoneConfig
from carbonedge.runtime.base.types import Detections
from carbonedge.vision.track_state import TrackTable

__all__ = ["ZoneConfig", "ZoneSet", "points_in_polygon"]


def points_in_polygon(xy: NDArray[np.float64], polygon: NDArray[np.float64]) -> NDArray[np.bool_]:
    """(K, 2) points, (E, 2) polygon vertices -> (K,) inside (even-odd rule)."""
    x, y = xy[:, 0:1], xy[:, 1:2]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    straddles = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return (straddles & (x < x_cross)).sum(axis=1) % 2 == 1


class _ZoneInterval:
    """Per-zone accumulators of one interval."""

    def __init__(self, n: int) -> None:
        self.frames = 0
        self.occupancy_sum = np.zeros(n)
        self.occupancy_max = np.zeros(n, np.int64)
        self.queue_sum = np.zeros(n)
        self.queue_max = np.zeros(n, np.int64)
        self.entered = np.zeros(n, np.int64)
        self.idle_s = np.zeros(n)
        self.dwell: list[list[float]] = [[] for _ in range(n)]
        self.visit_idle: list[list[float]] = [[] for _ in range(n)]


class ZoneSet:
    """All zones of one source: membership per frame and per-interval statistics."""

    def __init__(self, zones: Sequence[ZoneConfig], *, forget_after_s: float = 60.0) -> None:
        self.zones = tuple(zones)
        self.ids = tuple(z.id for z in self.zones)
        self._polygons = [np.asarray(z.polygon_px, np.float64) for z in self.zones]
        self.forget_after_s = forget_after_s
        n = len(self.zones)
        self._state = TrackTable(
            {
                "inside": ((n,), bool, False),
                "enter_s": ((n,), np.float64, np.nan),
                "idle_s": ((n,), np.float64, 0.0),  # stopped time inside, this visit
            }
        )
        self._interval = _ZoneInterval(n)

    @property
    def tracked_state_count(self) -> int:
        return len(self._state)

    def membership(self, tracked: Detections) -> NDArray[np.bool_]:
        """(N, Z) whether each row's anchor is inside each zone."""
        out = np.zeros((len(tracked), len(self.zones)), bool)
        if len(tracked) == 0:
            return out
        for z, (zone, poly) in enumerate(zip(self.zones, self._polygons, strict=True)):
            out[:, z] = points_in_polygon(tracked.anchors_xy(zone.anchor).astype(np.float64), poly)
        return out

    def update(
        self,
        tracked: Detections,
        inside: NDArray[np.bool_],
        stopped: NDArray[np.bool_],
        step_s: NDArray[np.float64],
        now_s: float,
    ) -> None:
        """Advance with this frame's rows: (N, Z) ``inside``, (N,) ``stopped`` and ``step_s``."""
        self._finish(self._state.idle_ids(now_s, self.forget_after_s))
        acc = self._interval
        acc.frames += 1
        rows = np.flatnonzero(tracked.tracker_id >= 0)
        occupancy = inside[rows].sum(axis=0)
        queue = (inside[rows] & stopped[rows, None]).sum(axis=0)
        acc.occupancy_sum += occupancy
        acc.queue_sum += queue
        np.maximum(acc.occupancy_max, occupancy, out=acc.occupancy_max)
        np.maximum(acc.queue_max, queue, out=acc.queue_max)
        if len(rows) == 0:
            return
        st = self._state
        slots = st.slots_for(tracked.tracker_id[rows], now_s)
        now_in, was_in = inside[rows], st["inside"][slots]
        # idle time inside (this frame's step belongs to the zone the track is in now)
        idle_step = np.where(stopped[rows], step_s[rows], 0.0)[:, None] * (now_in & was_in)
        st["idle_s"][slots] += idle_step
        acc.idle_s += idle_step.sum(axis=0)
        entered, left = now_in & ~was_in, was_in & ~now_in
        acc.entered += entered.sum(axis=0)
        for k, z in zip(*np.nonzero(left), strict=True):
            self._record_visit(int(slots[k]), int(z), now_s)
        enter_s = st["enter_s"][slots]
        enter_s[entered] = now_s
        st["enter_s"][slots] = enter_s
        st["inside"][slots] = now_in

    def _record_visit(self, slot: int, z: int, end_s: float) -> None:
        st = self._state
        self._interval.dwell[z].append(end_s - float(st["enter_s"][slot, z]))
        self._interval.visit_idle[z].append(float(st["idle_s"][slot, z]))
        st["idle_s"][slot, z] = 0.0
        st["inside"][slot, z] = False

    def _finish(self, tracker_ids) -> None:
        """Tracks that ended while inside a zone: their visit ends at their last observation."""
        for tid in tracker_ids:
            slot = self._state.slot(tid)
            if slot is None:
                continue
            for z in np.flatnonzero(self._state["inside"][slot]).tolist():
                self._record_visit(slot, z, float(self._state["seen_s"][slot]))
        self._state.release(tracker_ids)

    def forget(self, tracker_ids) -> None:
        self._finish([int(t) for t in tracker_ids])

    def close_interval(self) -> dict[str, dict[str, float | int]]:
        """Zone id -> statistics of the interval that ends now; starts the next one."""
        acc, self._interval = self._interval, _ZoneInterval(len(self.zones))
        frames = max(acc.frames, 1)
        out: dict[str, dict[str, float | int]] = {}
        for z, zone_id in enumerate(self.ids):
            dwell = acc.dwell[z]
            out[zone_id] = {
                "occupancy_mean": round(float(acc.occupancy_sum[z]) / frames, 2),
                "occupancy_max": int(acc.occupancy_max[z]),
                "queue_mean": round(float(acc.queue_sum[z]) / frames, 2),
                "queue_max": int(acc.queue_max[z]),
                "entered": int(acc.entered[z]),
                "left": len(dwell),
                "dwell_s_mean": round(float(np.mean(dwell)), 1) if dwell else None,
                "dwell_s_max": round(float(np.max(dwell)), 1) if dwell else None,
                "idle_s_mean": round(float(np.mean(acc.visit_idle[z])), 1) if dwell else None,
                "idle_vehicle_s": round(float(acc.idle_s[z]), 1),
            }
        return out

"""Reference line counter: the NumPy per-frame step the compiled one must reproduce.

:class:`ReferenceLineCounter` is :class:`~carbonedge.vision.counting.line.LineCounter` with its
per-frame observation written as whole-column NumPy (the implementation before it became the
Numba kernel ``carbonedge.kernels._line_nb.observe``). Everything else (eviction, class vote,
events) is shared. The parity test feeds both the same tracker output; the tracking benchmark
reports the compiled counter's speed against this one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.counting.line import LineCounter

__all__ = ["ReferenceLineCounter"]


class ReferenceLineCounter(LineCounter):
    """``LineCounter`` with the NumPy observation step (same constructor and API)."""

    def _signed_distance(self, xy: NDArray[np.float64]) -> NDArray[np.float64]:
        """(K, 2) points -> (K,) signed distance to the line in px, > 0 on the right side."""
        rel = xy - self._start
        return self._unit[0] * rel[:, 1] - self._unit[1] * rel[:, 0]

    def _meet_px(self, p0: NDArray, d0: NDArray, p1: NDArray, d1: NDArray) -> NDArray:
        """(K,) position along the line, px from start, where the paths p0 -> p1 (signed distances
        d0, d1 on different sides) meet it.

        The dot product is written out rather than ``@``: BLAS may fuse it (FMA) depending on the
        machine, and the reference must round the same everywhere.
        """
        u = d0 / (d0 - d1)
        rel = p0 + u[:, None] * (p1 - p0) - self._start
        return rel[:, 0] * self._unit[0] + rel[:, 1] * self._unit[1]

    def _observe(
        self, tracked: Detections, rows: NDArray, frame: Frame, speed_kmh: NDArray | None
    ) -> None:
        st = self._state
        ids = tracked.tracker_id[rows]
        slots = st.slots_for(ids, frame.t_mono_s)
        st["frames"][slots] += 1
        st["class_id"][slots] = tracked.class_id[rows]
        xy = tracked.anchors_xy(self.config.anchor)[rows].astype(np.float64)
        dist = self._signed_distance(xy)
        # where the path since the previous observation met the line (raw sign change)
        prev_dist = st["prev_dist"][slots]
        met = ~np.isnan(prev_dist) & ((prev_dist > 0) != (dist > 0))
        if met.any():
            st["cross_px"][slots[met]] = self._meet_px(
                st["prev_xy"][slots[met]], prev_dist[met], xy[met], dist[met]
            )
        st["prev_xy"][slots] = xy
        st["prev_dist"][slots] = dist
        # a side change beyond the hysteresis band is a crossing if it met the segment
        has_side = (np.abs(dist) >= self.config.hysteresis_px) & (dist != 0)
        side = np.where(has_side, np.sign(dist), 0).astype(np.int8)
        prev_side = st["side"][slots]
        changed = has_side & (prev_side != 0) & (side != prev_side)
        tol = self.config.end_tolerance_px
        along = st["cross_px"][slots]
        crossing = (
            changed & ~st["counted"][slots] & (along >= -tol) & (along <= self._length_px + tol)
        )
        st["side"][slots[has_side]] = side[has_side]
        st["counted"][slots[crossing]] = True
        boxes = tracked.xyxy[rows]
        for k in np.flatnonzero(crossing).tolist():
            v = None if speed_kmh is None else float(speed_kmh[rows[k]])
            self._new_crossing(k, int(side[k]), ids, boxes, frame, v)

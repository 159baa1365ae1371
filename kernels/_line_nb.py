"""Numba step of the line counter (private; use ``carbonedge.kernels``).

``observe`` advances every tracked row of one frame against one counting line: anchor point,
signed distance, where the path since the previous observation met the line, hysteresis sides,
and the crossings that count. It is the loop form of the NumPy code in
``carbonedge.vision.counting._line_ref.ReferenceLineCounter._observe`` with the same arithmetic
(anchors in float32, then float64), so both give the same crossings. Inputs are trusted: the
``LineCounter`` owns the state columns, and a frame's tracker ids are distinct (slots distinct).
"""

from __future__ import annotations

import numpy as np
from numba import njit

ANCHOR_BOTTOM_CENTER, ANCHOR_CENTER, ANCHOR_TOP_CENTER = 0, 1, 2
_HALF = np.float32(0.5)


@njit(cache=True, nogil=True)
def _anchor(xyxy, k, anchor):  # pragma: no cover - compiled
    """Anchor of box k in float32 (as ``Detections.anchors_xy``), returned as float64."""
    x = (xyxy[k, 0] + xyxy[k, 2]) * _HALF
    if anchor == ANCHOR_BOTTOM_CENTER:
        y = xyxy[k, 3]
    elif anchor == ANCHOR_CENTER:
        y = (xyxy[k, 1] + xyxy[k, 3]) * _HALF
    else:
        y = xyxy[k, 1]
    return np.float64(x), np.float64(y)


@njit(cache=True, nogil=True)
def observe(
    xyxy, class_id, slots, anchor, geometry, side, prev_xy, prev_dist, cross_px, counted,
    class_col, crossings,
):  # fmt: skip  # pragma: no cover - compiled
    """One frame of tracked rows against one line; returns the number of crossings.

    Args:
        xyxy (N, 4) float32, class_id (N,) int32: the rows. slots (N,) int64: each row's state
            slot (distinct). anchor: one of the ANCHOR_* codes.
        geometry: float64 (start x, start y, unit x, unit y, length px, hysteresis px, end
            tolerance px) of the directed segment.
        side (S,) int8, prev_xy (S, 2) float64, prev_dist (S,) float64, cross_px (S,) float64,
            counted (S,) bool, class_col (S,) int32: per-slot state, updated in place.
        crossings (N, 2) int64: receives (row, side +1 / -1) of each counted crossing, by row.
    """
    sx, sy, ux, uy = geometry[0], geometry[1], geometry[2], geometry[3]
    length, hysteresis, tol = geometry[4], geometry[5], geometry[6]
    m = 0
    for k in range(len(slots)):
        s = slots[k]
        class_col[s] = class_id[k]
        x, y = _anchor(xyxy, k, anchor)
        dist = ux * (y - sy) - uy * (x - sx)
        # where the path since the previous observation met the line (raw sign change)
        d0 = prev_dist[s]
        if not np.isnan(d0) and (d0 > 0) != (dist > 0):
            u = d0 / (d0 - dist)
            px = prev_xy[s, 0] + u * (x - prev_xy[s, 0])
            py = prev_xy[s, 1] + u * (y - prev_xy[s, 1])
            cross_px[s] = (px - sx) * ux + (py - sy) * uy
        prev_xy[s, 0] = x
        prev_xy[s, 1] = y
        prev_dist[s] = dist
        # a side change beyond the hysteresis band is a crossing if it met the segment
        if not (abs(dist) >= hysteresis and dist != 0):
            continue
        new_side = 1 if dist > 0 else -1
        old_side = side[s]
        side[s] = new_side
        if old_side == 0 or old_side == new_side or counted[s]:
            continue
        along = cross_px[s]
        if along >= -tol and along <= length + tol:
            counted[s] = True
            crossings[m, 0] = k
            crossings[m, 1] = new_side
            m += 1
    return m

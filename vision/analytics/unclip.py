"""Boxes cut by the image border, extended to the vehicle's full size.

A detector's box for a vehicle leaving the image stops at the border, so its anchor stops moving
before the vehicle is gone: a counting line a few pixels from the edge would never be crossed
(the bottom-centre of a car leaving through the left edge never gets closer to the edge than half
of what is left of it). Each track remembers its last full (not cut) box size; while its box
touches a border, the cut side is pushed out past the border to that size, so the anchor keeps
moving with the vehicle. Rows of tracks that were never seen whole are left as they are.
"""

from __future__ import annotations

import numpy as np

from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.track_state import TrackTable

__all__ = ["BorderUnclipper"]


class BorderUnclipper:
    """Extends border-cut boxes of tracked rows to the track's last full width and height."""

    def __init__(self, *, margin_px: float = 1.0, forget_after_s: float = 60.0) -> None:
        self.margin_px = margin_px
        self.forget_after_s = forget_after_s
        self._state = TrackTable({"w": ((), np.float64, np.nan), "h": ((), np.float64, np.nan)})

    @property
    def tracked_state_count(self) -> int:
        return len(self._state)

    def forget(self, tracker_ids) -> None:
        self._state.release(tracker_ids)

    def apply(self, tracked: Detections, frame: Frame) -> Detections:
        """``tracked`` with cut boxes extended (a copy when any row changed)."""
        self._state.release(self._state.idle_ids(frame.t_mono_s, self.forget_after_s))
        rows = np.flatnonzero(tracked.tracker_id >= 0)
        if len(rows) == 0:
            return tracked
        h_img, w_img = frame.image.shape[:2]
        m = self.margin_px
        b = tracked.xyxy[rows].astype(np.float64)
        left, top = b[:, 0] <= m, b[:, 1] <= m
        right, bottom = b[:, 2] >= w_img - m, b[:, 3] >= h_img - m
        slots = self._state.slots_for(tracked.tracker_id[rows], frame.t_mono_s)
        full_w, full_h = ~(left | right), ~(top | bottom)
        self._state["w"][slots[full_w]] = b[full_w, 2] - b[full_w, 0]
        self._state["h"][slots[full_h]] = b[full_h, 3] - b[full_h, 1]
        cut = ~(full_w & full_h)
        if not cut.any():
            return tracked
        w, h = self._state["w"][slots], self._state["h"][slots]
        known_w, known_h = np.isfinite(w), np.isfinite(h)
        # push the cut side out to the remembered size (never shrink a box)
        b[:, 0] = np.where(left & ~right & known_w, np.minimum(b[:, 0], b[:, 2] - w), b[:, 0])
        b[:, 2] = np.where(right & ~left & known_w, np.maximum(b[:, 2], b[:, 0] + w), b[:, 2])
        b[:, 1] = np.where(top & ~bottom & known_h, np.minimum(b[:, 1], b[:, 3] - h), b[:, 1])
        b[:, 3] = np.where(bottom & ~top & known_h, np.maximum(b[:, 3], b[:, 1] + h), b[:, 3])
        out = tracked[np.arange(len(tracked))]
        out.xyxy[rows] = b.astype(out.xyxy.dtype)
        return out

"""Detection stride: a camera's vehicle stages see every k-th frame, not every frame.

The model is 85-90 % of a frame's cost. Road users move a few pixels between frames of a 50-60 fps
camera, and ByteTrack's IoU association and the line counters do not need every one of them
(Frigate's ``detect: fps`` is 5 by default). How few is enough was measured on the truth clips
(benchmarks/RESULTS.md, "Detection stride"): 12 looks a second lose crossings on distant and dark
scenes, so the default ``detect_fps`` is 25, the rate the clips were measured at; a lower rate
is for ``carbonedge tune`` to check on a camera's own footage. With ``detect_fps`` set, the
pipeline gives its *vehicle* stages (``Stage.vehicles``: motion gate, roi, detect, track,
analytics, emissions, ...) one frame in ``k = max(1, floor(source fps / detect_fps))``: the first,
then each first frame at least k - 1/2 frame periods after the last one they saw, by timestamp
(a file: frames 0, k, 2k, ...; a live camera whose queue dropped frames: still ~fps / k a
second, whichever frames arrive). The other stages (camera moved, fire, annotate) still see
every frame, the annotated video showing the last tracked boxes on the frames between.

What keeps the results right at a stride:

- the tracker and its backfill step once per strided frame, built for ``fps / k`` (their frame
  windows: the lost-track buffer, the backfill's reach);
- speeds, idle times, zone dwell and the crossing times come from the frames' timestamps, not
  from frame counts.

A detector that needs every frame (the ``motion`` background model, a site-wide ``fused``
detector) gets k = 1. A camera whose light profiles switch to the fused detector at dusk or night
keeps its stride: the fused detector's background then learns from the strided frames (at least
25 a second with the default, as on the 24-30 fps clips it was measured on).
"""

from __future__ import annotations

import math

__all__ = ["Stride", "detect_stride"]


def detect_stride(fps: float, detect_fps: float | None, needs_every_frame: bool = False) -> int:
    """k: the vehicle stages see 1 frame in k (1: every frame)."""
    if detect_fps is None or needs_every_frame or not fps > 0:
        return 1
    return max(1, math.floor(fps / detect_fps + 1e-9))


class Stride:
    """Per camera: which frames go through the vehicle stages (``take``)."""

    def __init__(self, fps: float, detect_fps: float | None, needs_every_frame: bool = False):
        self.k = detect_stride(fps, detect_fps, needs_every_frame)
        self.period_s = (self.k - 0.5) / fps if self.k > 1 else 0.0
        self._last_s: float | None = None

    def take(self, t_s: float) -> bool:
        """Does the frame at ``t_s`` (its timestamp, s) go through the vehicle stages? The first
        frame, then the first frame at least k - 1/2 frame periods after the last one that did
        (by timestamp, not frame number: a live source's queue drops frames), and the first frame
        after the clock went back (a restarted source). Always, with k = 1."""
        if self.k == 1:
            return True
        last = self._last_s
        if last is None or t_s >= last + self.period_s or t_s < last:
            self._last_s = t_s
            return True
        return False

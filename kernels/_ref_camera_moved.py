"""NumPy reference of the camera-moved kernel (signature of ``carbonedge.kernels.camera_moved``).

No input validation beyond what NumPy does: this defines what the kernel computes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["tile_shift_scores"]


def tile_shift_scores(
    ref_gx: NDArray[np.float32],
    ref_gy: NDArray[np.float32],
    live_gx: NDArray[np.float32],
    live_gy: NDArray[np.float32],
    tiles_xyxy: NDArray[np.int32],
    *,
    max_shift_px: int,
) -> NDArray[np.float32]:
    """(T, 2R+1, 2R+1) float32: ``[t, dy + R, dx + R]`` is the cosine similarity (float64 sums) of
    the reference gradients in tile ``t`` and the live gradients shifted by ``(dx, dy)``
    (``R = max_shift_px``); 0 when either side has no gradient energy."""
    r = int(max_shift_px)
    out = np.zeros((len(tiles_xyxy), 2 * r + 1, 2 * r + 1), np.float32)
    for t, (x0, y0, x1, y1) in enumerate(np.asarray(tiles_xyxy, np.int64)):
        rx = ref_gx[y0:y1, x0:x1].astype(np.float64)
        ry = ref_gy[y0:y1, x0:x1].astype(np.float64)
        ref_e = float(np.sum(rx * rx + ry * ry))
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                lx = live_gx[y0 + dy : y1 + dy, x0 + dx : x1 + dx].astype(np.float64)
                ly = live_gy[y0 + dy : y1 + dy, x0 + dx : x1 + dx].astype(np.float64)
                den = np.sqrt(ref_e * float(np.sum(lx * lx + ly * ly)))
                if den > 0.0:
                    out[t, dy + r, dx + r] = np.sum(rx * lx + ry * ly) / den
    return out

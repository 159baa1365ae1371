"""NumPy reference of ``smoke_change_update`` (signature of ``carbonedge.kernels.smoke_change``).

No input validation beyond what NumPy does: this defines what the kernel computes.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["smoke_change_update"]

BRIGHTER, DARKER = 255, 127


def smoke_change_update(
    luma: NDArray[np.float32],
    background: NDArray[np.float32],
    variance: NDArray[np.float32],
    *,
    threshold_levels: float,
    k_sigma: float,
    alpha: float,
    alpha_candidate: float,
    alpha_variance: float,
    out_mask: NDArray[np.uint8] | None = None,
) -> tuple[NDArray[np.uint8], int, int]:
    """(H, W) uint8 mask: 255 where ``luma - background > t``, 127 where ``background - luma > t``
    (``t = threshold_levels + k_sigma * sqrt(variance)``), else 0; the counts of each. The
    background moves toward ``luma`` (``alpha``, or ``alpha_candidate`` under candidates); the
    variance learns ``min(d**2, t**2)`` from the non-candidate pixels; both in place."""
    f32 = np.float32
    d = luma - background
    t = f32(threshold_levels) + f32(k_sigma) * np.sqrt(variance)
    up, down = d > t, -d > t
    cand = up | down
    rate = np.where(cand, f32(alpha_candidate), f32(alpha))
    background += rate * d
    quiet = ~cand
    dq = d[quiet]
    variance[quiet] += f32(alpha_variance) * (
        np.minimum(dq * dq, t[quiet] * t[quiet]) - variance[quiet]
    )
    mask = np.where(up, np.uint8(BRIGHTER), np.where(down, np.uint8(DARKER), np.uint8(0)))
    if out_mask is not None:
        out_mask[...] = mask
        mask = out_mask
    return mask, int(np.count_nonzero(up)), int(np.count_nonzero(down))

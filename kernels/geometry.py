"""Plane geometry in plain NumPy that kernels, their references and calibration share.

Not a compiled kernel: a few vectorised lines that are already as fast as a call can be.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["apply_homography"]


def apply_homography(h: NDArray[np.float64], xy: NDArray) -> NDArray[np.float64]:
    """(N, 2) points through the 3x3 homography ``h`` (NaN where w is ~0: the horizon line)."""
    p = np.asarray(xy, np.float64).reshape(-1, 2)
    w = h[2, 0] * p[:, 0] + h[2, 1] * p[:, 1] + h[2, 2]
    x = (h[0, 0] * p[:, 0] + h[0, 1] * p[:, 1] + h[0, 2]) / w
    y = (h[1, 0] * p[:, 0] + h[1, 1] * p[:, 1] + h[1, 2]) / w
    out = np.stack([x, y], axis=1)
    out[np.abs(w) < 1e-12] = np.nan
    return out

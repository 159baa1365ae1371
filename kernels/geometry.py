"""Plane geometry in plain NumPy that kernels, their references and calibration share.

Not a compiled kernel: a few vectorised lines that are already as fast as a call can be.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["apply_homography", "intersection_over_area"]


def apply_homography(h: NDArray[np.float64], xy: NDArray) -> NDArray[np.float64]:
    """(N, 2) points through the 3x3 homography ``h`` (NaN where w is ~0: the horizon line)."""
    p = np.asarray(xy, np.float64).reshape(-1, 2)
    w = h[2, 0] * p[:, 0] + h[2, 1] * p[:, 1] + h[2, 2]
    x = (h[0, 0] * p[:, 0] + h[0, 1] * p[:, 1] + h[0, 2]) / w
    y = (h[1, 0] * p[:, 0] + h[1, 1] * p[:, 1] + h[1, 2]) / w
    out = np.stack([x, y], axis=1)
    out[np.abs(w) < 1e-12] = np.nan
    return out


def intersection_over_area(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64]:
    """(A, B) area of each ``a`` box inside each ``b`` box over the ``a`` box's own area."""
    a64, b64 = a.astype(np.float64).reshape(-1, 4), b.astype(np.float64).reshape(-1, 4)
    lo = np.maximum(a64[:, None, :2], b64[None, :, :2])
    hi = np.minimum(a64[:, None, 2:], b64[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=2)
    area = np.prod(np.clip(a64[:, 2:] - a64[:, :2], 0, None), axis=1)[:, None]
    return np.divide(inter, area, out=np.zeros_like(inter), where=area > 0)

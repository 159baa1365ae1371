"""Numba ``smoke_change_update``: the two-sided smoke test and background update in one pass
over the pixels (no temporaries), for the full-resolution horizon band of big tower frames."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

BRIGHTER, DARKER = 255, 127


@njit(cache=True, nogil=True)
def smoke_change_update(
    luma, background, variance, threshold, k_sigma, alpha, alpha_cand, alpha_var, out
):  # pragma: no cover - compiled
    h, w = luma.shape
    n_up = 0
    n_down = 0
    thr = np.float32(threshold)
    k = np.float32(k_sigma)
    a = np.float32(alpha)
    ac = np.float32(alpha_cand)
    av = np.float32(alpha_var)
    for y in range(h):
        for x in range(w):
            d = luma[y, x] - background[y, x]
            t = thr + k * np.float32(math.sqrt(variance[y, x]))
            if d > t:
                out[y, x] = BRIGHTER
                n_up += 1
                background[y, x] += ac * d
            elif -d > t:
                out[y, x] = DARKER
                n_down += 1
                background[y, x] += ac * d
            else:
                out[y, x] = 0
                background[y, x] += a * d
                dd = min(d * d, t * t)
                variance[y, x] += av * (dd - variance[y, x])
    return n_up, n_down

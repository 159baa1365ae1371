"""Numba virtual-loop kernel: a line's colour samples against their running background.

``loop_update``: per sample the largest absolute channel difference to the background, at the
same sample or at one of the ``SHAKE`` (2) samples either side of it along the row, whichever is
smallest (a picture shaken by a pixel or two is not a road user), decides foreground (above the
threshold); then background samples move towards the new value by ``alpha`` (a foreground
sample is left alone). Same float32 arithmetic as ``_ref_loops``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SHAKE = 2  # samples either way along the row: a picture shaken by this much is still road


@njit(cache=True, nogil=True)
def loop_update(samples, background, threshold_levels, alpha):  # pragma: no cover - compiled
    s_n, n = samples.shape[0], samples.shape[1]
    fg = np.zeros((s_n, n), np.uint8)
    thr = np.float32(threshold_levels)
    a = np.float32(alpha)
    for s in range(s_n):
        for i in range(n):
            diff = np.float32(np.inf)
            for j in range(max(i - SHAKE, 0), min(i + SHAKE + 1, n)):
                dj = np.float32(0.0)
                for c in range(3):
                    d = abs(samples[s, i, c] - background[s, j, c])
                    if d > dj:
                        dj = d
                if dj < diff:
                    diff = dj
            if diff > thr:
                fg[s, i] = 1
    for s in range(s_n):
        for i in range(n):
            if fg[s, i] == 0:
                for c in range(3):
                    background[s, i, c] += a * (samples[s, i, c] - background[s, i, c])
    return fg

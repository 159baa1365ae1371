"""Numba implementation of the batched xyah Kalman filter (private; use ``carbonedge.kernels``).

One loop over tracks, 8x8 algebra written out using the structure of the constant-velocity model
(F = [[I, dt I], [0, I]], H = [I, 0]) and a 4x4 Cholesky solve for the gain. Inputs are trusted:
the wrapper in ``kalman.py`` checks shapes, dtypes and contiguity.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def bad_measurement(meas):  # pragma: no cover - compiled
    """First row of meas (N,4) with a non-finite value or a height <= 0, or -1."""
    for i in range(meas.shape[0]):
        for k in range(4):
            if not np.isfinite(meas[i, k]):
                return i
        if not meas[i, 3] > 0.0:
            return i
    return -1


@njit(cache=True, nogil=True)
def initiate(meas, swp, swv, mean, cov):  # pragma: no cover - compiled
    """meas (N,4) f8 -> mean (N,8), cov (N,8,8) f8; returns the first bad measurement row or -1."""
    bad = bad_measurement(meas)
    if bad >= 0:
        return bad
    n = meas.shape[0]
    for i in range(n):
        h = meas[i, 3]
        for k in range(4):
            mean[i, k] = meas[i, k]
            mean[i, 4 + k] = 0.0
        for r in range(8):
            for c in range(8):
                cov[i, r, c] = 0.0
        pos = 2.0 * swp * h
        vel = 10.0 * swv * h
        cov[i, 0, 0] = pos * pos
        cov[i, 1, 1] = pos * pos
        cov[i, 2, 2] = 1e-2 * 1e-2
        cov[i, 3, 3] = pos * pos
        cov[i, 4, 4] = vel * vel
        cov[i, 5, 5] = vel * vel
        cov[i, 6, 6] = 1e-5 * 1e-5
        cov[i, 7, 7] = vel * vel
    return -1


@njit(cache=True, nogil=True)
def predict(mean, cov, swp, swv, dt):  # pragma: no cover - compiled
    """In place: mean <- F mean, cov <- F cov F^T + Q (Q from the pre-prediction height)."""
    n = mean.shape[0]
    for i in range(n):
        h = mean[i, 3]
        qp = (swp * h) * (swp * h)
        qv = (swv * h) * (swv * h)
        for k in range(4):
            mean[i, k] += dt * mean[i, 4 + k]
        # rows 0..3 of F P: P[r] += dt * P[r + 4]
        for r in range(4):
            for c in range(8):
                cov[i, r, c] += dt * cov[i, r + 4, c]
        # columns 0..3 of (F P) F^T: M[:, c] += dt * M[:, c + 4] with M = F P
        for r in range(8):
            for c in range(4):
                cov[i, r, c] += dt * cov[i, r, c + 4]
        cov[i, 0, 0] += qp
        cov[i, 1, 1] += qp
        cov[i, 2, 2] += 1e-4
        cov[i, 3, 3] += qp
        cov[i, 4, 4] += qv
        cov[i, 5, 5] += qv
        cov[i, 6, 6] += 1e-10
        cov[i, 7, 7] += qv


@njit(cache=True, nogil=True)
def _cholesky4(s, low):  # pragma: no cover - compiled
    """Lower Cholesky factor of the 4x4 SPD matrix ``s`` into ``low``; False if not SPD."""
    for j in range(4):
        d = s[j, j]
        for k in range(j):
            d -= low[j, k] * low[j, k]
        if not d > 0.0:
            return False
        d = np.sqrt(d)
        low[j, j] = d
        for r in range(j + 1, 4):
            v = s[r, j]
            for k in range(j):
                v -= low[r, k] * low[j, k]
            low[r, j] = v / d
        for r in range(j):
            low[r, j] = 0.0
    return True


@njit(cache=True, nogil=True)
def _gain(pht, low, gain):  # pragma: no cover - compiled
    """gain[r] = S^-1 pht[r] for the 8 rows (S = low low^T is symmetric, so K = P H^T S^-1)."""
    y = np.empty(4)
    for r in range(8):
        for j in range(4):  # forward: low y = b
            v = pht[r, j]
            for k in range(j):
                v -= low[j, k] * y[k]
            y[j] = v / low[j, j]
        for j in range(3, -1, -1):  # backward: low^T x = y
            v = y[j]
            for k in range(j + 1, 4):
                v -= low[k, j] * gain[r, k]
            gain[r, j] = v / low[j, j]


@njit(cache=True, nogil=True)
def update(mean, cov, meas, swp):  # pragma: no cover - compiled
    """In place correction of row i with meas[i].

    Returns -1 on success, i >= 0 if row i's innovation covariance is not SPD, or -2 - i if
    measurement row i is not finite or has a height <= 0 (then nothing was modified).
    """
    bad = bad_measurement(meas)
    if bad >= 0:
        return -2 - bad
    n = mean.shape[0]
    s = np.empty((4, 4))
    low = np.empty((4, 4))
    pht = np.empty((8, 4))
    gain = np.empty((8, 4))
    innov = np.empty(4)
    for i in range(n):
        h = mean[i, 3]
        rp = (swp * h) * (swp * h)
        for r in range(8):
            for c in range(4):
                pht[r, c] = cov[i, r, c]
        for r in range(4):
            for c in range(4):
                s[r, c] = cov[i, r, c]
        s[0, 0] += rp
        s[1, 1] += rp
        s[2, 2] += 1e-2
        s[3, 3] += rp
        if not _cholesky4(s, low):
            return i
        _gain(pht, low, gain)
        for k in range(4):
            innov[k] = meas[i, k] - mean[i, k]
        for r in range(8):
            v = 0.0
            for k in range(4):
                v += gain[r, k] * innov[k]
            mean[i, r] += v
        # P -= K S K^T = K (P H^T)^T: symmetric, so compute the upper triangle and mirror it
        for r in range(8):
            for c in range(r, 8):
                v = 0.0
                for k in range(4):
                    v += gain[r, k] * pht[c, k]
                cov[i, r, c] -= v
                if c != r:
                    cov[i, c, r] = cov[i, r, c]
    return -1

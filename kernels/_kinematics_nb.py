"""Numba track speed fit: per track, weighted least squares over the window, one outlier round.

Same arithmetic as ``_ref_kinematics`` in a loop per track (no temporaries): the window mask, a
weighted line fit of x and y over time, the residual distances, their lower median, the
``max(3 x median, floor)`` cut and a second fit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_EPS = 1e-12


@njit(cache=True, nogil=True)
def _fit(t, xy, w, k, vel, resid):  # pragma: no cover - compiled
    """Fit row ``k`` with weights ``w``; velocity into ``vel``, residuals into ``resid``."""
    r_n = t.shape[1]
    sw = 0.0
    st = 0.0
    sx = 0.0
    sy = 0.0
    for r in range(r_n):
        sw += w[r]
        st += w[r] * t[k, r]
        sx += w[r] * xy[k, r, 0]
        sy += w[r] * xy[k, r, 1]
    sw = max(sw, _EPS)
    t_mean = st / sw
    x_mean = sx / sw
    y_mean = sy / sw
    var = 0.0
    cx = 0.0
    cy = 0.0
    for r in range(r_n):
        d = t[k, r] - t_mean
        var += w[r] * d * d
        cx += w[r] * d * (xy[k, r, 0] - x_mean)
        cy += w[r] * d * (xy[k, r, 1] - y_mean)
    if var > _EPS:
        vel[0] = cx / var
        vel[1] = cy / var
    else:
        vel[0] = np.nan
        vel[1] = np.nan
    vx = vel[0] if not math.isnan(vel[0]) else 0.0
    vy = vel[1] if not math.isnan(vel[1]) else 0.0
    for r in range(r_n):
        d = t[k, r] - t_mean
        resid[r] = math.hypot(xy[k, r, 0] - (x_mean + d * vx), xy[k, r, 1] - (y_mean + d * vy))


@njit(cache=True, nogil=True)
def track_speed_fit(t, xy, now_s, window_s, min_samples, outlier_floor):  # pragma: no cover
    n, r_n = t.shape
    out = np.empty(n)
    w = np.empty(r_n)
    resid = np.empty(r_n)
    vel = np.empty(2)
    tt = np.empty((n, r_n))
    pos = np.empty((n, r_n, 2))
    for k in range(n):
        for r in range(r_n):
            tk = t[k, r]
            ok = not math.isnan(tk) and now_s - tk <= window_s + 1e-9
            w[r] = 1.0 if ok else 0.0
            tt[k, r] = 0.0 if math.isnan(tk) else tk - now_s
            for c in range(2):
                v = xy[k, r, c]
                pos[k, r, c] = 0.0 if math.isnan(v) else v
        _fit(tt, pos, w, k, vel, resid)
        # lower median of the residuals of the samples in the window
        m = 0
        vals = np.empty(r_n)
        for r in range(r_n):
            if w[r] > 0:
                vals[m] = resid[r]
                m += 1
        med = 0.0
        if m > 0:
            srt = np.sort(vals[:m])
            med = srt[(m - 1) // 2]
        limit = max(3.0 * med, outlier_floor)
        count = 0.0
        for r in range(r_n):
            if not resid[r] <= limit:
                w[r] = 0.0
            count += w[r]
        _fit(tt, pos, w, k, vel, resid)
        out[k] = math.hypot(vel[0], vel[1]) if count >= min_samples else np.nan
    return out

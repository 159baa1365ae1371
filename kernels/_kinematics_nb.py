"""Numba kinematics: the per-track speed fit and the whole per-frame ``Kinematics`` step.

``track_speed_fit``: per track, the arithmetic of ``_ref_kinematics`` in a loop (no temporaries):
the window mask, a weighted line fit of x and y over time, the residual distances, their lower
median, the ``max(3 x median, floor)`` cut and a second fit.

``kinematics_step``: one frame of ``vision.analytics.kinematics`` on the track table's columns in
place (anchor, ground projection, border test, ring append, fit, impossible-speed cut, EMA,
distance step, stopped flag). It reads every per-slot value before writing any, like the NumPy
reference's fancy indexing, so a repeated slot gives the same result.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_EPS = 1e-12

# kinematics_step params layout (float64 vector built once per Kinematics)
P_WINDOW_S, P_MIN_SAMPLES, P_SMOOTHING_S, P_MAX_SPEED_KMH, P_FLOOR = 0, 1, 2, 3, 4
P_IDLE_KMH, P_IDLE_HEIGHTS_PER_S, P_EDGE_MARGIN_PX, P_MAX_STEP_S = 5, 6, 7, 8
N_PARAMS = 9
ERRORS = (
    "",
    "rows, slots and boxes must have N rows (boxes N x 4)",
    "ring_xy must be (S, R, 2) for ring_t (S, R)",
    "head, speed and last_t must have S rows like ring_t",
    "out columns must have one length; params 9 values; image_to_world 3x3",
    "a slot is outside the state columns",
    "a row is outside the out columns",
)


@njit(cache=True, nogil=True)
def _fit(t, xy, w, k, vel, resid, want_resid):  # pragma: no cover - compiled
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
    if not want_resid:
        return
    vx = vel[0] if not math.isnan(vel[0]) else 0.0
    vy = vel[1] if not math.isnan(vel[1]) else 0.0
    for r in range(r_n):
        d = t[k, r] - t_mean
        resid[r] = math.hypot(xy[k, r, 0] - (x_mean + d * vx), xy[k, r, 1] - (y_mean + d * vy))


@njit(cache=True, nogil=True)
def _speed_one(  # pragma: no cover - compiled
    t, xy, k, now_s, window_s, min_samples, outlier_floor, tt, pos, w, resid, vel, vals
):
    """Speed of ring row ``k`` of ``t`` (K, R) / ``xy`` (K, R, 2); the rest is scratch."""
    r_n = t.shape[1]
    for r in range(r_n):
        tk = t[k, r]
        ok = not math.isnan(tk) and now_s - tk <= window_s + 1e-9
        w[r] = 1.0 if ok else 0.0
        tt[0, r] = 0.0 if math.isnan(tk) else tk - now_s
        for c in range(2):
            v = xy[k, r, c]
            pos[0, r, c] = 0.0 if math.isnan(v) else v
    _fit(tt, pos, w, 0, vel, resid, True)
    # lower median of the residuals of the samples in the window
    m = 0
    for r in range(r_n):
        if w[r] > 0:
            vals[m] = resid[r]
            m += 1
    for i in range(1, m):  # insertion sort in place: m <= R is small, no allocation
        v = vals[i]
        j = i - 1
        while j >= 0 and vals[j] > v:
            vals[j + 1] = vals[j]
            j -= 1
        vals[j + 1] = v
    med = vals[(m - 1) // 2] if m > 0 else 0.0
    limit = max(3.0 * med, outlier_floor)
    count = 0.0
    for r in range(r_n):
        if not resid[r] <= limit:
            w[r] = 0.0
        count += w[r]
    _fit(tt, pos, w, 0, vel, resid, False)
    return math.hypot(vel[0], vel[1]) if count >= min_samples else np.nan


@njit(cache=True, nogil=True)
def track_speed_fit(t, xy, now_s, window_s, min_samples, outlier_floor):  # pragma: no cover
    n, r_n = t.shape
    out = np.empty(n)
    tt = np.empty((1, r_n))
    pos = np.empty((1, r_n, 2))
    w = np.empty(r_n)
    resid = np.empty(r_n)
    vel = np.empty(2)
    vals = np.empty(r_n)
    for k in range(n):
        out[k] = _speed_one(
            t, xy, k, now_s, window_s, min_samples, outlier_floor, tt, pos, w, resid, vel, vals
        )
    return out


@njit(cache=True, nogil=True)
def kinematics_step(  # pragma: no cover - compiled
    rows, slots, boxes, now_s, image_w, image_h, h, has_ground, params,
    ring_t, ring_xy, head, speed, last_t,
    out_speed_kmh, out_stopped, out_step_m, out_step_s,
):  # fmt: skip
    """Returns 0, or the ``ERRORS`` code of the first bad shape or index (nothing written)."""
    n = slots.shape[0]
    s_n, r_n = ring_t.shape
    n_out = out_stopped.shape[0]
    if rows.shape[0] != n or boxes.shape[0] != n or boxes.shape[1] != 4:
        return 1
    if ring_xy.shape[0] != s_n or ring_xy.shape[1] != r_n or ring_xy.shape[2] != 2:
        return 2
    if head.shape[0] != s_n or speed.shape[0] != s_n or last_t.shape[0] != s_n:
        return 3
    if out_speed_kmh.shape[0] != n_out or out_step_m.shape[0] != n_out:
        return 4
    if out_step_s.shape[0] != n_out or params.shape[0] != N_PARAMS or h.shape != (3, 3):
        return 4
    for i in range(n):
        if slots[i] < 0 or slots[i] >= s_n:
            return 5
        if rows[i] < 0 or rows[i] >= n_out:
            return 6
    m = params[P_EDGE_MARGIN_PX]
    max_step_s = params[P_MAX_STEP_S]
    tau = params[P_SMOOTHING_S]
    pos = np.empty((n, 2))
    usable = np.empty(n, np.bool_)
    for i in range(n):
        x0 = boxes[i, 0]
        x2 = boxes[i, 2]
        y3 = boxes[i, 3]
        ax = (x0 + x2) * 0.5
        ay = y3
        if has_ground:
            w = h[2, 0] * ax + h[2, 1] * ay + h[2, 2]
            if abs(w) < 1e-12:
                px = np.nan
                py = np.nan
            else:
                px = (h[0, 0] * ax + h[0, 1] * ay + h[0, 2]) / w
                py = (h[1, 0] * ax + h[1, 1] * ay + h[1, 2]) / w
        else:
            px = ax
            py = ay
        pos[i, 0] = px
        pos[i, 1] = py
        border = (x0 <= m) or (x2 >= image_w - m) or (y3 >= image_h - m)
        usable[i] = math.isfinite(px) and math.isfinite(py) and not border
    # ring append: every head is read before any is written (NumPy fancy-index semantics)
    heads = np.empty(n, np.int64)
    for i in range(n):
        heads[i] = head[slots[i]]
    for i in range(n):
        if usable[i]:
            s = slots[i]
            ring_t[s, heads[i]] = now_s
            ring_xy[s, heads[i], 0] = pos[i, 0]
            ring_xy[s, heads[i], 1] = pos[i, 1]
            head[s] = (heads[i] + 1) % r_n
    # fit, cut, smooth: previous speed and last_t read before any write
    tt = np.empty((1, r_n))
    fpos = np.empty((1, r_n, 2))
    fw = np.empty(r_n)
    resid = np.empty(r_n)
    vel = np.empty(2)
    vals = np.empty(r_n)
    prev = np.empty(n)
    prev_t = np.empty(n)
    for i in range(n):
        prev[i] = speed[slots[i]]
        prev_t[i] = last_t[slots[i]]
    new = np.empty(n)
    for i in range(n):
        raw = _speed_one(
            ring_t, ring_xy, slots[i], now_s, params[P_WINDOW_S], params[P_MIN_SAMPLES],
            params[P_FLOOR], tt, fpos, fw, resid, vel, vals,
        )  # fmt: skip
        if has_ground and raw * 3.6 > params[P_MAX_SPEED_KMH]:
            raw = np.nan
        step_s = 0.0 if math.isnan(prev_t[i]) else now_s - prev_t[i]
        alpha = 1.0 if tau <= 0 else 1.0 - math.exp(-max(step_s, 0.0) / tau)
        p = prev[i]
        if math.isnan(raw):
            sm = p
        elif math.isnan(p):
            sm = raw
        else:
            sm = p + alpha * (raw - p)
        new[i] = sm
        row = rows[i]
        integrate = step_s > 0 and step_s <= max_step_s and math.isfinite(sm)
        if has_ground:
            out_speed_kmh[row] = sm * 3.6
            out_step_m[row] = sm * step_s if integrate else 0.0
            out_stopped[row] = sm * 3.6 < params[P_IDLE_KMH]
        else:
            height_px = max(boxes[i, 3] - boxes[i, 1], 1.0)
            out_stopped[row] = sm / height_px < params[P_IDLE_HEIGHTS_PER_S]
        out_step_s[row] = step_s if step_s <= max_step_s else 0.0
    for i in range(n):
        speed[slots[i]] = new[i]
        last_t[slots[i]] = now_s
    return 0

"""NumPy references of ``carbonedge.kernels.track_speed_fit`` and ``kinematics_step``."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels.geometry import apply_homography

__all__ = ["kinematics_step", "track_speed_fit"]


def track_speed_fit(
    t: NDArray[np.float64],
    xy: NDArray[np.float64],
    now_s: float,
    window_s: float,
    min_samples: int,
    outlier_floor: float,
) -> NDArray[np.float64]:
    """(K, R) sample times (NaN: empty), (K, R, 2) positions -> (K,) speed, NaN when unknown."""
    w = (np.isfinite(t) & (now_s - t <= window_s + 1e-9)).astype(np.float64)
    tt = np.nan_to_num(t - now_s)
    pos = np.nan_to_num(xy)
    v, resid = _weighted_fit(tt, pos, w)
    med = _masked_median(resid, w > 0)
    limit = np.maximum(3.0 * med, outlier_floor)
    w = w * (resid <= limit[:, None])
    v, _ = _weighted_fit(tt, pos, w)
    speed = np.hypot(v[:, 0], v[:, 1])
    speed[w.sum(axis=1) < min_samples] = np.nan
    return speed


def kinematics_step(
    rows: NDArray[np.int64],
    slots: NDArray[np.int64],
    boxes: NDArray[np.float64],
    now_s: float,
    image_wh: tuple[int, int],
    image_to_world: NDArray[np.float64] | None,
    params: NDArray[np.float64],
    state: tuple[NDArray, NDArray, NDArray, NDArray, NDArray],
    out: tuple[NDArray, NDArray, NDArray, NDArray],
) -> None:
    """One frame of ``Kinematics.update`` after slot lookup, whole-column NumPy, in place."""
    window_s, min_samples, tau, max_kmh, floor, idle_kmh, idle_hps, margin, max_step_s = params
    ring_t, ring_xy, head, speed, last_t = state
    out_speed_kmh, out_stopped, out_step_m, out_step_s = out
    t = now_s
    anchor = np.stack([(boxes[:, 0] + boxes[:, 2]) * 0.5, boxes[:, 3]], axis=1)
    pos = anchor if image_to_world is None else apply_homography(image_to_world, anchor)
    w, h = image_wh
    border = (boxes[:, 0] <= margin) | (boxes[:, 2] >= w - margin) | (boxes[:, 3] >= h - margin)
    usable = np.isfinite(pos).all(axis=1) & ~border

    # append usable samples to each track's ring
    ok_slots = slots[usable]
    hd = head[ok_slots]
    ring_t[ok_slots, hd] = t
    ring_xy[ok_slots, hd] = pos[usable]
    head[ok_slots] = (hd + 1) % ring_t.shape[1]

    raw = track_speed_fit(ring_t[slots], ring_xy[slots], t, window_s, int(min_samples), floor)
    if image_to_world is not None:
        raw[raw * 3.6 > max_kmh] = np.nan  # impossible: a bad fit, not a car
    prev_t = last_t[slots]
    step_s = np.where(np.isnan(prev_t), 0.0, t - prev_t)
    # EMA of the fitted speed per track; an unknown fit keeps the previous value
    prev = speed[slots]
    alpha = np.ones_like(raw) if tau <= 0 else 1.0 - np.exp(-np.maximum(step_s, 0.0) / tau)
    smoothed = np.where(np.isnan(prev), raw, prev + alpha * (raw - prev))
    smoothed = np.where(np.isnan(raw), prev, smoothed)
    speed[slots] = smoothed
    last_t[slots] = t

    integrate = (step_s > 0) & (step_s <= max_step_s) & np.isfinite(smoothed)
    if image_to_world is not None:
        out_speed_kmh[rows] = smoothed * 3.6
        out_step_m[rows] = np.where(integrate, smoothed * step_s, 0.0)
        out_stopped[rows] = smoothed * 3.6 < idle_kmh
    else:
        height_px = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        out_stopped[rows] = smoothed / height_px < idle_hps
    out_step_s[rows] = np.where(step_s <= max_step_s, step_s, 0.0)


def _weighted_fit(
    t: NDArray[np.float64], xy: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per row: slope of xy over t with weights w -> (K, 2) velocity, (K, R) residual distance."""
    sw = np.maximum(w.sum(axis=1), 1e-12)
    t_mean = (w * t).sum(axis=1) / sw
    xy_mean = (w[:, :, None] * xy).sum(axis=1) / sw[:, None]
    dt = t - t_mean[:, None]
    var = (w * dt * dt).sum(axis=1)
    cov = (w[:, :, None] * dt[:, :, None] * (xy - xy_mean[:, None, :])).sum(axis=1)
    v = np.where(var[:, None] > 1e-12, cov / np.maximum(var, 1e-12)[:, None], np.nan)
    fitted = xy_mean[:, None, :] + dt[:, :, None] * np.nan_to_num(v)[:, None, :]
    resid = np.hypot(*(xy - fitted).transpose(2, 0, 1))
    return v, resid


def _masked_median(values: NDArray[np.float64], mask: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Lower median of each row over ``mask`` (0 for an empty row)."""
    n = mask.sum(axis=1)
    ordered = np.sort(np.where(mask, values, np.inf), axis=1)
    med = ordered[np.arange(len(values)), np.maximum(n - 1, 0) // 2]
    return np.where(n > 0, med, 0.0)

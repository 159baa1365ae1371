"""NumPy reference of the track speed fit (``carbonedge.kernels.track_speed_fit``)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["track_speed_fit"]


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

"""NumPy references of the batched Kalman filter kernels (ByteTrack / DeepSORT xyah state).

State per track: ``(x, y, a, h, vx, vy, va, vh)`` with ``(x, y)`` the box centre, ``a = w / h`` the
aspect ratio and ``h`` the height in pixels; constant-velocity motion. Process and measurement noise
scale with the box height, exactly as in ByteTrack's ``kalman_filter.py``. These functions are
the straightforward batched NumPy a careful engineer writes (``@`` matmul, ``np.linalg.solve``):
the benchmark's ratios are against this, not against a slow three-operand ``einsum``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["kalman_initiate", "kalman_predict", "kalman_update"]


def _diag(std: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, K) standard deviations -> (N, K, K) diagonal covariances."""
    n, k = std.shape
    out = np.zeros((n, k, k), np.float64)
    out[:, np.arange(k), np.arange(k)] = np.square(std)
    return out


def kalman_initiate(
    measurement_xyah: NDArray,
    *,
    std_weight_position: float = 1.0 / 20,
    std_weight_velocity: float = 1.0 / 160,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(N, 4) measurements -> mean (N, 8) float64 (zero velocity), covariance (N, 8, 8) float64."""
    m = np.asarray(measurement_xyah, np.float64).reshape(-1, 4)
    h = m[:, 3]
    mean = np.concatenate([m, np.zeros_like(m)], axis=1)
    pos, vel = 2.0 * std_weight_position * h, 10.0 * std_weight_velocity * h
    std = np.stack(
        [pos, pos, np.full_like(h, 1e-2), pos, vel, vel, np.full_like(h, 1e-5), vel], axis=1
    )
    return mean, _diag(std)


def kalman_predict(
    mean: NDArray[np.float64],
    covariance: NDArray[np.float64],
    *,
    std_weight_position: float = 1.0 / 20,
    std_weight_velocity: float = 1.0 / 160,
    dt: float = 1.0,
) -> None:
    """Constant-velocity prediction of every track, in place: x' = F x, P' = F P F^T + Q."""
    motion = np.eye(8)
    motion[np.arange(4), np.arange(4) + 4] = dt
    h = mean[:, 3]
    pos, vel = std_weight_position * h, std_weight_velocity * h
    std = np.stack(
        [pos, pos, np.full_like(h, 1e-2), pos, vel, vel, np.full_like(h, 1e-5), vel], axis=1
    )
    q = _diag(std)
    mean[...] = mean @ motion.T
    covariance[...] = motion @ covariance @ motion.T + q


def kalman_update(
    mean: NDArray[np.float64],
    covariance: NDArray[np.float64],
    measurement_xyah: NDArray,
    *,
    std_weight_position: float = 1.0 / 20,
) -> None:
    """Kalman correction of row i with measurement i, in place (N tracks, N measurements)."""
    z = np.asarray(measurement_xyah, np.float64).reshape(-1, 4)
    h = mean[:, 3]
    pos = std_weight_position * h
    r = _diag(np.stack([pos, pos, np.full_like(h, 1e-1), pos], axis=1))
    projected_mean = mean[:, :4]
    projected_cov = covariance[:, :4, :4] + r  # H P H^T + R
    pht = covariance[:, :, :4]  # P H^T, (N, 8, 4)
    gain = np.linalg.solve(projected_cov, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # (N, 8, 4)
    innovation = z - projected_mean
    new_mean = mean + (gain @ innovation[:, :, None])[:, :, 0]
    new_cov = covariance - gain @ projected_cov @ gain.transpose(0, 2, 1)
    mean[...] = new_mean
    covariance[...] = new_cov

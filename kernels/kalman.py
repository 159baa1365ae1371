"""Batched Kalman filter for box tracking (ByteTrack / DeepSORT ``xyah`` state), all tracks at once.

State per track (8 floats): ``(x, y, a, h, vx, vy, va, vh)``, where ``(x, y)`` is the box centre in
pixels, ``a = w / h`` the aspect ratio and ``h`` the height in pixels, followed by their velocities
per time step. Motion is constant velocity; process and measurement noise standard deviations scale
with the box height (``std_weight_position * h`` and ``std_weight_velocity * h``), exactly as in
ByteTrack's ``kalman_filter.py`` (aspect noise fixed at 1e-2 / 1e-5 for the process, 1e-1 for the
measurement). The noise is per step: ``dt`` scales the motion only, as in ByteTrack where a step is
one frame.

``mean`` (N, 8) and ``covariance`` (N, 8, 8) are float64 C-contiguous arrays owned by the caller;
:func:`kalman_predict` and :func:`kalman_update` modify them in place. Compiled with Numba
(``carbonedge.kernels._kalman_nb``); NumPy references in ``carbonedge.kernels.reference``.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require

__all__ = ["kalman_initiate", "kalman_predict", "kalman_update"]

_MODULE = "_kalman_nb"
for _name in __all__:
    _register(_name, "numba", _MODULE)


def _check_weight(fn: str, name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value > 0.0):
        raise ValueError(f"{fn}: {name} must be finite and > 0, got {value}")
    return value


def _check_state(fn: str, mean: NDArray, covariance: NDArray) -> int:
    """Validate the in-place state arrays; return N."""
    if (
        not isinstance(mean, np.ndarray)
        or mean.dtype != np.float64
        or mean.ndim != 2
        or (mean.shape[1] != 8)
    ):
        got = f"{mean.dtype} {mean.shape}" if isinstance(mean, np.ndarray) else type(mean).__name__
        raise ValueError(f"{fn}: mean must be a float64 ndarray of shape (N, 8), got {got}")
    n = mean.shape[0]
    if (
        not isinstance(covariance, np.ndarray)
        or covariance.dtype != np.float64
        or covariance.shape != (n, 8, 8)
    ):
        got = (
            f"{covariance.dtype} {covariance.shape}"
            if isinstance(covariance, np.ndarray)
            else type(covariance).__name__
        )
        raise ValueError(
            f"{fn}: covariance must be a float64 ndarray of shape ({n}, 8, 8), got {got}"
        )
    for name, arr in (("mean", mean), ("covariance", covariance)):
        if not (arr.flags.c_contiguous and arr.flags.writeable):
            raise ValueError(f"{fn}: {name} must be C-contiguous and writeable (updated in place)")
    return n


def _check_measurement(fn: str, measurement_xyah: NDArray, n: int | None) -> NDArray[np.float64]:
    z = np.ascontiguousarray(measurement_xyah, dtype=np.float64)
    if z.size == 0 and n in (None, 0):
        return z.reshape(0, 4)
    if z.ndim != 2 or z.shape[1] != 4 or (n is not None and z.shape[0] != n):
        expected = "(N, 4)" if n is None else f"({n}, 4)"
        raise ValueError(f"{fn}: measurement_xyah must have shape {expected}, got {z.shape}")
    return z


def _bad_measurement(fn: str, row: int) -> ValueError:
    return ValueError(f"{fn}: measurement_xyah must be finite with heights > 0 (row {row})")


def kalman_initiate(
    measurement_xyah: NDArray,
    *,
    std_weight_position: float = 1.0 / 20,
    std_weight_velocity: float = 1.0 / 160,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Start N tracks from N unassociated measurements.

    Args:
        measurement_xyah: (N, 4) boxes as (centre x, centre y, aspect w/h, height h), pixels;
            coerced to float64. Heights must be > 0.
        std_weight_position: position noise as a fraction of the height.
        std_weight_velocity: velocity noise as a fraction of the height.

    Returns:
        mean (N, 8) float64 with zero velocities; covariance (N, 8, 8) float64, diagonal with
        standard deviations (2 swp h, 2 swp h, 1e-2, 2 swp h, 10 swv h, 10 swv h, 1e-5, 10 swv h).
    """
    fn = "kalman_initiate"
    swp = _check_weight(fn, "std_weight_position", std_weight_position)
    swv = _check_weight(fn, "std_weight_velocity", std_weight_velocity)
    z = _check_measurement(fn, measurement_xyah, None)
    n = z.shape[0]
    mean = np.empty((n, 8), np.float64)
    covariance = np.empty((n, 8, 8), np.float64)
    bad = _require(_MODULE).initiate(z, swp, swv, mean, covariance)
    if bad >= 0:
        raise _bad_measurement(fn, bad)
    return mean, covariance


def kalman_predict(
    mean: NDArray[np.float64],
    covariance: NDArray[np.float64],
    *,
    std_weight_position: float = 1.0 / 20,
    std_weight_velocity: float = 1.0 / 160,
    dt: float = 1.0,
) -> None:
    """Predict every track one step ahead, in place.

    ``mean <- F mean`` and ``covariance <- F covariance F^T + Q`` with ``F = [[I, dt I], [0, I]]``
    and Q diagonal with standard deviations (swp h, swp h, 1e-2, swp h, swv h, swv h, 1e-5, swv h),
    h the height before the prediction.

    Args:
        mean: (N, 8) float64, C-contiguous, writeable.
        covariance: (N, 8, 8) float64, C-contiguous, writeable.
        std_weight_position, std_weight_velocity: noise fractions of the height (> 0).
        dt: step length in the units of the velocities (1.0 = one frame), > 0.
    """
    fn = "kalman_predict"
    swp = _check_weight(fn, "std_weight_position", std_weight_position)
    swv = _check_weight(fn, "std_weight_velocity", std_weight_velocity)
    step = _check_weight(fn, "dt", dt)
    _check_state(fn, mean, covariance)
    _require(_MODULE).predict(mean, covariance, swp, swv, step)


def kalman_update(
    mean: NDArray[np.float64],
    covariance: NDArray[np.float64],
    measurement_xyah: NDArray,
    *,
    std_weight_position: float = 1.0 / 20,
) -> None:
    """Correct track i with measurement i, in place (N tracks, N measurements).

    Measurement noise R is diagonal with standard deviations (swp h, swp h, 1e-1, swp h), h the
    predicted height; the gain is ``K = P H^T S^-1`` with ``S = H P H^T + R`` (Cholesky solve).

    Args:
        mean: (N, 8) float64, C-contiguous, writeable.
        covariance: (N, 8, 8) float64, symmetric, C-contiguous, writeable.
        measurement_xyah: (N, 4) (centre x, centre y, aspect, height); coerced to float64.
        std_weight_position: measurement noise fraction of the height (> 0).

    Raises:
        ValueError: on bad shapes/dtypes or measurements (nothing modified), or if a row's
            innovation covariance is not positive definite (rows before it are already updated).
    """
    fn = "kalman_update"
    swp = _check_weight(fn, "std_weight_position", std_weight_position)
    n = _check_state(fn, mean, covariance)
    z = _check_measurement(fn, measurement_xyah, n)
    bad = _require(_MODULE).update(mean, covariance, z, swp)
    if bad <= -2:
        raise _bad_measurement(fn, -2 - bad)
    if bad >= 0:
        raise ValueError(f"{fn}: innovation covariance of row {bad} is not positive definite")

"""Batched Kalman kernels (Numba) vs the NumPy reference, for typical track counts per frame."""

from __future__ import annotations

import numpy as np

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import kalman_initiate, kalman_predict, kalman_update
from carbonedge.kernels import reference as ref


def _measurements(n: int, seed: int = 0) -> np.ndarray:
    """(n, 4) float64 xyah boxes spread over a 1080p frame."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(0, 1920, n),
            rng.uniform(0, 1080, n),
            rng.uniform(0.3, 3, n),
            rng.uniform(8, 400, n),
        ]
    )


def _rows_for(n: int) -> list[Row]:
    case = f"N={n} tracks"
    z = _measurements(n)
    mean, cov = kalman_initiate(z)
    mean_r, cov_r = mean.copy(), cov.copy()
    return [
        compare(
            "kalman_initiate", case, lambda: kalman_initiate(z), lambda: ref.kalman_initiate(z)
        ),
        compare(
            "kalman_predict",
            case,
            lambda: kalman_predict(mean, cov),
            lambda: ref.kalman_predict(mean_r, cov_r),
        ),
        # repeated updates with one measurement keep the state finite (covariance shrinks to R)
        compare(
            "kalman_update",
            case,
            lambda: kalman_update(mean, cov, z),
            lambda: ref.kalman_update(mean_r, cov_r, z),
        ),
    ]


def run(quick: bool) -> list[Row]:
    """Rows for initiate / predict / update at N tracks (10, 50, 200; quick: 10, 50)."""
    rows: list[Row] = []
    for n in (10, 50) if quick else (10, 50, 200):
        rows.extend(_rows_for(n))
    return rows

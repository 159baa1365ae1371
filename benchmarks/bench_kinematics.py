"""Track speed fit (Numba) vs the NumPy reference, for typical track counts per frame."""

from __future__ import annotations

import numpy as np

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import reference as ref
from carbonedge.kernels import track_speed_fit


def _rings(n: int, r: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-2.0, 0.0, (n, r)), axis=1)
    v = rng.uniform(-30, 30, (n, 1, 2))
    xy = v * t[:, :, None] + rng.normal(0, 0.1, (n, r, 2))
    return t, xy


def run(quick: bool) -> list[Row]:
    """Rows for 8, 50 (and 200) tracks with 32-sample rings."""
    rows = []
    for n in (8, 50) if quick else (8, 50, 200):
        t, xy = _rings(n)
        rows.append(compare(
            "track_speed_fit", f"N={n} tracks x 32 samples",
            lambda t=t, xy=xy: track_speed_fit(t, xy, 0.0, window_s=1.0, min_samples=3,
                                               outlier_floor=0.5),
            lambda t=t, xy=xy: ref.track_speed_fit(t, xy, 0.0, 1.0, 3, 0.5),
        ))  # fmt: skip
    return rows

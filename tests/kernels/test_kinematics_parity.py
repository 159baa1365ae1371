"""Track speed fit: the Numba kernel against its NumPy reference, and known answers."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.kernels import reference as ref
from carbonedge.kernels import track_speed_fit


def rings(n: int, r: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random rings: tracks at 0-30 m/s with noise, outliers, empty slots and stale samples."""
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(-2.0, 0.0, (n, r)), axis=1)
    v = rng.uniform(-30, 30, (n, 1, 2))
    xy = rng.uniform(-50, 50, (n, 1, 2)) + v * t[:, :, None] + rng.normal(0, 0.1, (n, r, 2))
    outliers = rng.random((n, r)) < 0.08
    xy[outliers] += rng.normal(0, 5.0, (outliers.sum(), 2))
    empty = rng.random((n, r)) < 0.2
    t[empty] = np.nan
    xy[empty] = np.nan
    return t, xy


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("window_s", "min_samples", "floor"), [(1.0, 3, 0.5), (0.4, 2, 0.0)])
def test_parity_with_the_reference(seed: int, window_s: float, min_samples: int, floor: float):
    t, xy = rings(200, 32, seed)
    ours = track_speed_fit(t, xy, 0.0, window_s=window_s, min_samples=min_samples,
                           outlier_floor=floor)  # fmt: skip
    theirs = ref.track_speed_fit(t, xy, 0.0, window_s, min_samples, floor)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9, equal_nan=True)
    assert np.isfinite(ours).sum() > 100  # the case is not vacuous


def test_exact_line_and_one_outlier() -> None:
    t = np.linspace(-0.9, 0.0, 10)[None, :]
    xy = np.stack([10.0 * t[0], np.zeros(10)], axis=1)[None, :, :].copy()
    xy[0, 4, 0] += 8.0  # one sample 8 m off: cut, the fit stays exact
    speed = track_speed_fit(t, xy, 0.0, window_s=1.0, min_samples=3, outlier_floor=0.5)
    assert speed[0] == pytest.approx(10.0, rel=1e-12)


def test_too_few_samples_and_bad_shapes() -> None:
    t = np.array([[0.0, -0.1, np.nan]])
    xy = np.zeros((1, 3, 2))
    assert np.isnan(track_speed_fit(t, xy, 0.0, window_s=1.0, min_samples=3, outlier_floor=0.0))[0]
    with pytest.raises(ValueError, match="track_speed_fit"):
        track_speed_fit(t, np.zeros((1, 3)), 0.0, window_s=1.0, min_samples=3, outlier_floor=0.0)

"""Parity: Numba Kalman kernels vs the NumPy reference vs a per-track ByteTrack transcription."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from carbonedge.kernels import kalman_initiate, kalman_predict, kalman_update
from carbonedge.kernels import reference as ref

SWP, SWV = 1.0 / 20, 1.0 / 160


# --- ByteTrack's kalman_filter.py, one track at a time (independent oracle) -----------------------
def _bt_predict(mean, cov, dt=1.0):
    motion = np.eye(8)
    for i in range(4):
        motion[i, 4 + i] = dt
    h = mean[3]
    std = [SWP * h, SWP * h, 1e-2, SWP * h, SWV * h, SWV * h, 1e-5, SWV * h]
    return motion @ mean, np.linalg.multi_dot((motion, cov, motion.T)) + np.diag(np.square(std))


def _bt_update(mean, cov, z):
    h = mean[3]
    proj_cov = cov[:4, :4] + np.diag(np.square([SWP * h, SWP * h, 1e-1, SWP * h]))
    chol = scipy.linalg.cho_factor(proj_cov, lower=True, check_finite=False)
    gain = scipy.linalg.cho_solve(chol, cov[:, :4].T, check_finite=False).T
    new_mean = mean + (z - mean[:4]) @ gain.T
    return new_mean, cov - np.linalg.multi_dot((gain, proj_cov, gain.T))


def make_xyah(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            rng.uniform(0, 1920, n),
            rng.uniform(0, 1080, n),
            rng.uniform(0.3, 3, n),
            rng.uniform(8, 400, n),
        ]
    )


def test_initiate_fixed_values() -> None:
    mean, cov = kalman_initiate([[10.0, 20.0, 0.5, 100.0]])
    np.testing.assert_array_equal(mean, [[10, 20, 0.5, 100, 0, 0, 0, 0]])
    expected = np.diag([100.0, 100.0, 1e-4, 100.0, 39.0625, 39.0625, 1e-10, 39.0625])
    np.testing.assert_allclose(cov[0], expected, rtol=1e-12, atol=0)


def test_predict_update_fixed_values() -> None:
    mean, cov = kalman_initiate([[100.0, 50.0, 1.0, 40.0]])
    mean[0, 4:] = [2.0, -1.0, 0.0, 0.5]
    kalman_predict(mean, cov)
    np.testing.assert_allclose(mean[0], [102, 49, 1, 40.5, 2, -1, 0, 0.5])
    # x variance: initial 16 + velocity 6.25 (dt=1) + process 4 = 26.25; x/vx covariance 6.25
    assert cov[0, 0, 0] == pytest.approx(16 + 6.25 + 4)
    assert cov[0, 0, 4] == pytest.approx(6.25)
    kalman_update(mean, cov, [[104.0, 49.0, 1.0, 40.5]])
    # gain on x: P_xx / (P_xx + R_xx), R_xx = (swp * 40.5)^2
    k = 26.25 / (26.25 + (40.5 / 20) ** 2)
    assert mean[0, 0] == pytest.approx(102 + 2 * k)
    assert mean[0, 1] == pytest.approx(49)


@pytest.mark.parametrize("n", [0, 1, 7, 50])
@pytest.mark.parametrize("dt", [1.0, 0.5])
def test_sequence_parity(n: int, dt: float) -> None:
    rng = np.random.default_rng(n)
    z0 = make_xyah(n, seed=n)
    mean, cov = kalman_initiate(z0)
    mean_r, cov_r = ref.kalman_initiate(z0)
    np.testing.assert_array_equal(mean, mean_r)
    np.testing.assert_array_equal(cov, cov_r)
    bt = [(mean_r[i].copy(), cov_r[i].copy()) for i in range(n)]
    for _ in range(15):
        kalman_predict(mean, cov, dt=dt)
        ref.kalman_predict(mean_r, cov_r, dt=dt)
        bt = [_bt_predict(m, c, dt) for m, c in bt]
        np.testing.assert_allclose(mean, mean_r, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(cov, cov_r, rtol=1e-10, atol=1e-9)
        z = z0 + rng.normal(0, 1, z0.shape) * [3, 3, 0.02, 2] + [4, -2, 0, 1]
        kalman_update(mean, cov, z)
        ref.kalman_update(mean_r, cov_r, z)
        bt = [_bt_update(m, c, z[i]) for i, (m, c) in enumerate(bt)]
        np.testing.assert_allclose(mean, mean_r, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(cov, cov_r, rtol=1e-9, atol=1e-9)
    for i, (m, c) in enumerate(bt):
        np.testing.assert_allclose(mean[i], m, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(cov[i], c, rtol=1e-9, atol=1e-9)
    assert np.allclose(cov, cov.transpose(0, 2, 1))


def test_random_state_parity() -> None:
    """Arbitrary SPD covariances and velocities, not only ones reached from initiate."""
    rng = np.random.default_rng(42)
    n = 33
    mean = np.column_stack([make_xyah(n, 1), rng.normal(0, 3, (n, 4))])
    a = rng.normal(0, 2, (n, 8, 8))
    cov = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(8)
    mean_r, cov_r = mean.copy(), cov.copy()
    kalman_predict(mean, cov, std_weight_position=0.1, std_weight_velocity=0.02, dt=2.0)
    ref.kalman_predict(mean_r, cov_r, std_weight_position=0.1, std_weight_velocity=0.02, dt=2.0)
    np.testing.assert_allclose(mean, mean_r, rtol=1e-12)
    np.testing.assert_allclose(cov, cov_r, rtol=1e-12, atol=1e-10)
    z = make_xyah(n, 2)
    kalman_update(mean, cov, z, std_weight_position=0.1)
    ref.kalman_update(mean_r, cov_r, z, std_weight_position=0.1)
    np.testing.assert_allclose(mean, mean_r, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(cov, cov_r, rtol=1e-9, atol=1e-8)


def test_update_pulls_towards_measurement_row_by_row() -> None:
    z = make_xyah(3, 5)
    mean, cov = kalman_initiate(z)
    target = z + [[10, 0, 0, 0], [0, 10, 0, 0], [0, 0, 0, 10]]
    kalman_update(mean, cov, target)
    moved = mean[:, :4] - z
    assert moved[0, 0] > 5 and moved[1, 1] > 5 and moved[2, 3] > 5
    assert abs(moved[0, 1]) < 1e-9 and abs(moved[1, 0]) < 1e-9


def test_empty_outputs() -> None:
    mean, cov = kalman_initiate(np.zeros((0, 4)))
    assert mean.shape == (0, 8) and cov.shape == (0, 8, 8)
    assert mean.dtype == np.float64 and cov.dtype == np.float64
    kalman_predict(mean, cov)
    kalman_update(mean, cov, np.zeros((0, 4)))


def _state(n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    return kalman_initiate(make_xyah(n))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kalman_initiate(np.ones((3, 5))), r"measurement_xyah must have shape \(N, 4\)"),
        (lambda: kalman_initiate([[1, 1, 1, 0]]), "finite with heights > 0"),
        (lambda: kalman_initiate([[1, np.nan, 1, 2]]), "finite with heights > 0"),
        (lambda: kalman_initiate([[1, 1, 1, 2]], std_weight_position=0), "std_weight_position"),
        (
            lambda: kalman_predict(_state()[0].astype(np.float32), _state()[1]),
            "mean must be a float64",
        ),
        (lambda: kalman_predict(np.zeros((2, 7)), np.zeros((2, 8, 8))), r"shape \(N, 8\)"),
        (lambda: kalman_predict(np.zeros((2, 8)), np.zeros((3, 8, 8))), r"shape \(2, 8, 8\)"),
        (lambda: kalman_predict([[0.0] * 8], np.zeros((1, 8, 8))), "got list"),
        (lambda: kalman_predict(np.zeros((8, 2)).T, np.zeros((2, 8, 8))), "C-contiguous"),
        (lambda: kalman_predict(*_state(), dt=0.0), "dt must be finite and > 0"),
        (lambda: kalman_predict(*_state(), std_weight_velocity=-1), "std_weight_velocity"),
        (lambda: kalman_update(*_state(2), make_xyah(3)), r"shape \(2, 4\)"),
        (lambda: kalman_update(*_state(2), np.zeros((2, 4))), "heights > 0"),
    ],
)
def test_validation_errors(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_readonly_state_rejected() -> None:
    mean, cov = _state()
    cov.flags.writeable = False
    with pytest.raises(ValueError, match="covariance must be C-contiguous and writeable"):
        kalman_predict(mean, cov)


def test_non_spd_innovation_reported() -> None:
    mean, cov = _state(2)
    cov[1] = -np.eye(8) * 1e6
    with pytest.raises(ValueError, match="row 1 is not positive definite"):
        kalman_update(mean, cov, make_xyah(2))


def test_bad_measurement_leaves_state_untouched() -> None:
    mean, cov = _state(3)
    before = mean.copy(), cov.copy()
    z = make_xyah(3, 9)
    z[2, 3] = -1.0
    with pytest.raises(ValueError, match=r"heights > 0 \(row 2\)"):
        kalman_update(mean, cov, z)
    np.testing.assert_array_equal(mean, before[0])
    np.testing.assert_array_equal(cov, before[1])

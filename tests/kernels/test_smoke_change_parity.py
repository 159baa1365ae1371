"""``smoke_change_update`` (Numba) against its NumPy reference, and its input checks."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.kernels import reference as ref
from carbonedge.kernels import smoke_change_update

KW = {"threshold_levels": 4.0, "k_sigma": 2.0, "alpha": 0.18, "alpha_candidate": 0.06,
      "alpha_variance": 0.1}  # fmt: skip


def _inputs(shape: tuple[int, int], seed: int):
    rng = np.random.default_rng(seed)
    luma = rng.uniform(0, 255, shape).astype(np.float32)
    background = (luma + rng.normal(0, 8, shape)).astype(np.float32)
    variance = rng.uniform(0, 30, shape).astype(np.float32)
    return luma, background, variance


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (48, 64), (121, 97), (0, 5)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity(shape: tuple[int, int], seed: int) -> None:
    luma, bg, var = _inputs(shape, seed)
    bg_ref, var_ref = bg.copy(), var.copy()
    mask, up, down = smoke_change_update(luma, bg, var, **KW)
    mask_ref, up_ref, down_ref = ref.smoke_change_update(luma, bg_ref, var_ref, **KW)
    np.testing.assert_array_equal(mask, mask_ref)
    assert (up, down) == (up_ref, down_ref)
    np.testing.assert_allclose(bg, bg_ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(var, var_ref, rtol=1e-5, atol=1e-3)


def test_both_sides_and_noise_learnt_off_candidates_only() -> None:
    bg = np.full((4, 4), 100.0, np.float32)
    var = np.zeros((4, 4), np.float32)
    luma = bg.copy()
    luma[0, 0], luma[1, 1], luma[2, 2] = 120.0, 80.0, 102.0  # brighter, darker, noise
    mask, up, down = smoke_change_update(luma, bg, var, **KW)
    assert (up, down) == (1, 1) and mask[0, 0] == 255 and mask[1, 1] == 127 and mask[2, 2] == 0
    assert var[0, 0] == 0 and var[1, 1] == 0 and var[2, 2] == pytest.approx(0.1 * 4.0)
    assert bg[0, 0] == pytest.approx(100 + 0.06 * 20) and bg[2, 2] == pytest.approx(100 + 0.18 * 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"luma": np.zeros((3, 3), np.float64)}, "luma: expected dtype float32"),
        ({"background": np.zeros((3, 4), np.float32)}, r"background: expected shape \(3, 3\)"),
        ({"alpha": 0.0}, r"alpha: expected a value in \(0, 1\]"),
        ({"k_sigma": -1.0}, "k_sigma: expected a finite value >= 0"),
        ({"variance": np.zeros((3, 3), np.float32)[:, ::-1]}, "variance: must be C-contiguous"),
    ],
)
def test_bad_input_one_clear_error(change: dict, message: str) -> None:
    args = {"luma": np.zeros((3, 3), np.float32), "background": np.zeros((3, 3), np.float32),
            "variance": np.zeros((3, 3), np.float32), **KW}  # fmt: skip
    args.update(change)
    luma, bg, var = args.pop("luma"), args.pop("background"), args.pop("variance")
    with pytest.raises(ValueError, match=message):
        smoke_change_update(luma, bg, var, **args)

"""Parity tests of the fire/smoke kernels against their NumPy references."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.kernels import fire
from carbonedge.kernels import reference as ref

SMOKE_KW = {
    "threshold_levels": 4.0,
    "k_sigma": 2.0,
    "alpha": 0.18,
    "alpha_candidate": 0.06,
    "alpha_variance": 0.1,
}


def _smoke_inputs(shape: tuple[int, int], seed: int):
    rng = np.random.default_rng(seed)
    luma = rng.uniform(0, 255, shape).astype(np.float32)
    background = (luma + rng.normal(0, 8, shape)).astype(np.float32)
    variance = rng.uniform(0, 30, shape).astype(np.float32)
    return luma, background, variance


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (48, 64), (121, 97), (0, 5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_smoke_update_parity(shape: tuple[int, int], seed: int) -> None:
    luma, bg, var = _smoke_inputs(shape, seed)
    bg_ref, var_ref = bg.copy(), var.copy()
    for step in range(3):  # state carried over several frames stays identical
        mask, count = fire.smoke_update(luma + step, bg, var, **SMOKE_KW)
        mask_ref, count_ref = ref.smoke_update(luma + step, bg_ref, var_ref, **SMOKE_KW)
        np.testing.assert_array_equal(mask, mask_ref)
        assert count == count_ref == int(np.count_nonzero(mask))
        np.testing.assert_array_equal(bg, bg_ref)
        np.testing.assert_array_equal(var, var_ref)


def test_smoke_update_semantics() -> None:
    # A pixel 20 levels brighter than its background with no noise is a candidate and moves by
    # alpha_candidate * 20; one 5 levels darker is not and teaches the variance 25 * alpha_variance.
    luma = np.array([[120.0, 95.0, 100.0]], np.float32)
    bg = np.full((1, 3), 100.0, np.float32)
    var = np.zeros((1, 3), np.float32)
    mask, count = fire.smoke_update(luma, bg, var, **SMOKE_KW)
    assert mask.tolist() == [[255, 0, 0]] and count == 1
    np.testing.assert_allclose(bg, [[100 + 0.06 * 20, 100 - 0.18 * 5, 100]], rtol=1e-6)
    np.testing.assert_allclose(var, [[0, 0.1 * 25, 0]], rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha: expected a value in"),
        ({"alpha_candidate": 1.5}, "alpha_candidate"),
        ({"threshold_levels": -1.0}, "threshold_levels: expected a finite value >= 0"),
        ({"k_sigma": float("nan")}, "k_sigma"),
    ],
)
def test_smoke_update_rejects_bad_parameters(kwargs: dict, message: str) -> None:
    luma, bg, var = _smoke_inputs((4, 4), 0)
    with pytest.raises(ValueError, match=message):
        fire.smoke_update(luma, bg, var, **{**SMOKE_KW, **kwargs})


def test_smoke_update_rejects_bad_arrays() -> None:
    luma, bg, var = _smoke_inputs((4, 4), 0)
    with pytest.raises(ValueError, match=r"variance: expected shape \(4, 4\)"):
        fire.smoke_update(luma, bg, var[:, :3].copy(), **SMOKE_KW)
    with pytest.raises(ValueError, match="background: expected dtype float32"):
        fire.smoke_update(luma, bg.astype(np.float64), var, **SMOKE_KW)
    with pytest.raises(ValueError, match="C-contiguous and writeable"):
        fire.smoke_update(luma, bg[:, ::2], var[:, ::2], **SMOKE_KW)


FLAME_FIXED = [
    # (B, G, R) -> flame?
    ((20, 120, 250), True),  # orange
    ((60, 200, 255), True),  # yellow-orange
    ((30, 30, 250), False),  # pure red: G > B fails
    ((200, 200, 200), False),  # white-grey
    ((40, 90, 140), False),  # brown: R below min_red
    ((250, 250, 255), False),  # near white: Cr - Cb too small
]


@pytest.mark.parametrize(("bgr", "expected"), FLAME_FIXED)
def test_flame_mask_fixed(bgr: tuple[int, int, int], expected: bool) -> None:
    image = np.array(bgr, np.uint8).reshape(1, 1, 3)
    mask, count = fire.flame_mask(image)
    assert bool(mask[0, 0]) is expected and count == int(expected)
    assert ref.flame_mask(image)[0].tolist() == mask.tolist()


@pytest.mark.parametrize("shape", [(1, 1), (17, 23), (120, 160), (0, 4)])
@pytest.mark.parametrize(("min_red", "min_cr_minus_cb"), [(150.0, 40.0), (0.0, 0.0), (200, 80)])
def test_flame_mask_parity(shape: tuple[int, int], min_red: float, min_cr_minus_cb: float) -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    kw = {"min_red": min_red, "min_cr_minus_cb": min_cr_minus_cb}
    mask, count = fire.flame_mask(image, **kw)
    mask_ref, count_ref = ref.flame_mask(image, **kw)
    np.testing.assert_array_equal(mask, mask_ref)
    assert count == count_ref


def test_flame_mask_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"bgr: expected an \(H, W, 3\) numpy array"):
        fire.flame_mask(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="bgr: expected dtype uint8"):
        fire.flame_mask(np.zeros((4, 4, 3), np.float32))


@pytest.mark.parametrize("shape", [(1, 1), (31, 47), (0, 3)])
def test_flicker_update_parity(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(5)
    prev = (rng.random(shape) < 0.5).astype(np.uint8) * 255
    flick = rng.uniform(0, 3, shape).astype(np.float32)
    prev_ref, flick_ref = prev.copy(), flick.copy()
    for _ in range(4):
        mask = (rng.random(shape) < 0.5).astype(np.uint8) * rng.integers(1, 256, dtype=np.uint8)
        fire.flicker_update(mask, prev, flick, decay=0.8)
        ref.flicker_update(mask, prev_ref, flick_ref, decay=0.8)
        np.testing.assert_array_equal(prev, prev_ref)
        np.testing.assert_array_equal(flick, flick_ref)


def test_flicker_update_steady_state() -> None:
    prev = np.zeros((1, 2), np.uint8)
    flick = np.zeros((1, 2), np.float32)
    on = np.array([[255, 255]], np.uint8)
    half = np.array([[0, 255]], np.uint8)
    for i in range(60):  # column 0 toggles every frame, column 1 stays on after the first frame
        fire.flicker_update(on if i % 2 == 0 else half, prev, flick, decay=0.5)
    np.testing.assert_allclose(flick[0, 0], 2.0, rtol=1e-4)  # 1 / (1 - 0.5)
    assert flick[0, 1] < 1e-6  # one toggle at the start, decayed 59 times
    with pytest.raises(ValueError, match="decay"):
        fire.flicker_update(on, prev, flick, decay=1.5)

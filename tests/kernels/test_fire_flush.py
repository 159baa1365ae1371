"""``flicker_update`` never stores a float32 subnormal: a score that stops being fed decays to
exactly 0 (flushed below 1e-30), in the Cython kernel and in the NumPy reference alike."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.kernels import fire
from carbonedge.kernels import reference as ref
from carbonedge.kernels._ref_fire import FLICKER_FLUSH_BELOW

TINY = np.finfo(np.float32).tiny  # the smallest normal float32; anything in (0, TINY) is subnormal
IMPLEMENTATIONS = [pytest.param(fire.flicker_update, id="kernel"),
                   pytest.param(ref.flicker_update, id="reference")]  # fmt: skip


@pytest.mark.parametrize("flicker_update", IMPLEMENTATIONS)
@pytest.mark.parametrize("decay", [0.5, 0.8, 0.9])
def test_a_decaying_score_ends_at_zero_without_subnormals(flicker_update, decay: float) -> None:
    # column 0 toggled once and then never again; column 1 keeps toggling; column 2 starts at -3
    start = np.array([[1.0, 0.0, -3.0]], np.float32)
    flicker, previous = start.copy(), np.zeros((1, 3), np.uint8)
    frames = 200 if decay == 0.5 else int(np.ceil(np.log(1e-31) / np.log(decay))) + 10
    for i in range(frames):
        mask = np.array([[0, 255 * (i % 2), 0]], np.uint8)
        flicker_update(mask, previous, flicker, decay=decay)
        magnitude = np.abs(flicker[0, [0, 2]])
        assert not np.any((magnitude > 0) & (magnitude < TINY)), (i, flicker)
        assert not np.any((magnitude > 0) & (magnitude < FLICKER_FLUSH_BELOW)), (i, flicker)
    assert flicker[0, 0] == 0.0 and flicker[0, 2] == 0.0  # exactly 0, both signs
    assert flicker[0, 1] > 0.9  # a toggling pixel keeps its score: the flush is far below it


@pytest.mark.parametrize("flicker_update", IMPLEMENTATIONS)
def test_subnormal_input_is_flushed_and_nan_kept(flicker_update) -> None:
    flicker = np.array([[1e-40, -1e-40, 2e-30, np.nan, 1e-31]], np.float32)
    flicker_update(np.zeros((1, 5), np.uint8), np.zeros((1, 5), np.uint8), flicker, decay=1.0)
    assert flicker[0, :3].tolist() == [0.0, 0.0, np.float32(2e-30)]  # 2e-30 stays: above 1e-30
    assert np.isnan(flicker[0, 3]) and flicker[0, 4] == 0.0


def test_kernel_and_reference_flush_the_same_pixels() -> None:
    rng = np.random.default_rng(11)
    shape = (37, 53)
    exponents = rng.uniform(-45, 1, shape)
    flick = (rng.choice([-1.0, 1.0], shape) * 10.0**exponents).astype(np.float32)
    prev = (rng.random(shape) < 0.5).astype(np.uint8) * 255
    flick_ref, prev_ref = flick.copy(), prev.copy()
    for _ in range(30):
        mask = (rng.random(shape) < 0.1).astype(np.uint8) * 255
        fire.flicker_update(mask, prev, flick, decay=0.3)
        ref.flicker_update(mask, prev_ref, flick_ref, decay=0.3)
        np.testing.assert_array_equal(flick, flick_ref)
    assert np.count_nonzero(flick == 0) > 0  # the flush ran on many pixels

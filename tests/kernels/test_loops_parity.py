"""The virtual-loop kernel (Numba) against its NumPy reference: seeded random samples over many
frames (foreground and the background's update equal, not close), the one-sample shake it
tolerates, the sample geometry, and the wrappers' one-line errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from carbonedge.kernels import line_samples, loop_update
from carbonedge.kernels import reference as ref


@pytest.mark.parametrize("seed", range(5))
def test_loop_update_equals_the_reference_frame_after_frame(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    bg_ours = rng.uniform(0, 255, (3, n, 3)).astype(np.float32)
    bg_ref = bg_ours.copy()
    for _ in range(20):
        samples = (bg_ours + rng.normal(0, 25, bg_ours.shape)).astype(np.float32)
        ours = loop_update(samples, bg_ours, threshold_levels=20.0, alpha=0.1)
        theirs = ref.loop_update(samples, bg_ref, threshold_levels=20.0, alpha=0.1)
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(bg_ours, bg_ref)
        assert 0 < ours.mean() < 1  # both kinds of sample occur


def test_a_road_user_is_foreground_and_the_road_learns():
    bg = np.full((3, 20, 3), 100, np.float32)
    samples = bg.copy()
    samples[:, 5:9] = 30  # a dark car on every row
    samples[:, 12] = 110  # a little brighter road
    fg = loop_update(samples, bg, threshold_levels=25.0, alpha=0.5)
    assert fg[:, 5:9].all() and fg.sum() == 3 * 4
    assert (bg[:, 5:9] == 100).all()  # the car does not enter the background
    assert (bg[:, 12] == 105).all()  # the road moved half way towards the frame


def test_an_edge_shaken_by_one_or_two_samples_is_not_foreground():
    row = np.array([100] * 10 + [250] * 10, np.float32)  # a white kerb stripe beside the road
    bg = np.repeat(row[None, :, None], 3, axis=2).repeat(3, axis=0)
    shaken = np.roll(bg, 1, axis=1)
    shaken[:, 0] = bg[:, 0]
    assert loop_update(shaken, bg.copy(), threshold_levels=25.0).sum() == 0
    assert ref.loop_update(shaken, bg.copy(), threshold_levels=25.0).sum() == 0
    moved_two = np.roll(bg, 2, axis=1)
    moved_two[:, :2] = bg[:, :2]
    assert loop_update(moved_two, bg.copy(), threshold_levels=25.0).sum() == 0
    moved_three = np.roll(bg, 3, axis=1)
    moved_three[:, :3] = bg[:, :3]
    assert loop_update(moved_three, bg.copy(), threshold_levels=25.0).sum() > 0


def test_line_samples_lie_on_the_line_and_beside_it_on_its_right():
    points = line_samples((10, 20), (50, 20), (-3.0, 0.0, 3.0), (100, 100))
    assert points.shape == (3, 41, 2) and points.dtype == np.float32
    np.testing.assert_allclose(points[1, :, 0], np.arange(10, 51))
    np.testing.assert_allclose(points[:, 0, 1], [17, 20, 23])  # right of a line drawn ->: below
    image = np.zeros((100, 100, 3), np.uint8)
    image[23] = 200
    read = cv2.remap(image, points[..., 0], points[..., 1], cv2.INTER_LINEAR)
    assert (read[2] == 200).all() and (read[:2] == 0).all()
    clamped = line_samples((-5, 50), (120, 50), (0.0,), (100, 100))
    assert clamped[..., 0].min() == 0 and clamped[..., 0].max() == 99


def test_wrong_input_is_named():
    bg = np.zeros((3, 4, 3), np.float32)
    with pytest.raises(ValueError, match="samples"):
        loop_update(np.zeros((3, 4), np.float32), bg)
    with pytest.raises(ValueError, match="background: shape"):
        loop_update(np.zeros((3, 5, 3), np.float32), bg)
    with pytest.raises(ValueError, match="writeable"):
        ro = bg.copy()
        ro.flags.writeable = False
        loop_update(bg.copy(), ro)
    with pytest.raises(ValueError, match="alpha"):
        loop_update(bg.copy(), bg.copy(), alpha=0.0)
    with pytest.raises(ValueError, match="threshold_levels"):
        loop_update(bg.copy(), bg.copy(), threshold_levels=-1)
    with pytest.raises(ValueError, match="zero length"):
        line_samples((5, 5), (5, 5), (0.0,), (10, 10))

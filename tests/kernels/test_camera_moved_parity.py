"""Parity of the camera-moved kernel with its NumPy reference, and what its scores mean."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from carbonedge.kernels import camera_moved
from carbonedge.kernels import reference as ref


def gradients(shape_hw: tuple[int, int], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape_hw).astype(np.float32) for _ in range(4)]


def grid_tiles(shape_hw: tuple[int, int], r: int, nx: int, ny: int) -> np.ndarray:
    h, w = shape_hw
    xs = np.linspace(r, w - r, nx + 1).astype(int)
    ys = np.linspace(r, h - r, ny + 1).astype(int)
    return np.array(
        [(x0, y0, x1, y1) for y0, y1 in zip(ys[:-1], ys[1:], strict=True)
         for x0, x1 in zip(xs[:-1], xs[1:], strict=True)], np.int32,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("shape_hw", "r", "nx", "ny", "seed"),
    [
        ((40, 50), 3, 2, 2, 0),
        ((61, 47), 5, 3, 1, 1),
        ((90, 160), 8, 4, 3, 2),
        ((12, 12), 0, 1, 1, 3),
    ],
)
def test_parity_random(shape_hw: tuple[int, int], r: int, nx: int, ny: int, seed: int) -> None:
    arrays = gradients(shape_hw, seed)
    tiles = grid_tiles(shape_hw, r, nx, ny)
    ours = camera_moved.tile_shift_scores(*arrays, tiles, max_shift_px=r)
    expected = ref.tile_shift_scores(*arrays, tiles, max_shift_px=r)
    assert ours.dtype == np.float32 and ours.shape == (len(tiles), 2 * r + 1, 2 * r + 1)
    np.testing.assert_allclose(ours, expected, atol=2e-5)


@pytest.fixture(params=["dispatch", "portable"])
def simd_path(request: pytest.FixtureRequest) -> object:
    """Both dot-product paths: run-time dispatch (AVX2 where there is one) and the portable one."""
    from carbonedge.kernels import _camera_moved

    _camera_moved.simd_path(request.param == "dispatch")
    yield request.param
    _camera_moved.simd_path(True)


@pytest.mark.parametrize("r", [0, 1, 2, 4, 6, 8, 12])
def test_parity_every_register_block(simd_path: str, r: int) -> None:
    """Radii whose 2R+1 shifts split into every block shape, odd tile sizes, on both paths."""
    shape_hw = (2 * r + 41, 2 * r + 57)
    arrays = gradients(shape_hw, 10 + r)
    tiles = grid_tiles(shape_hw, r, 3, 2)
    tiles = np.vstack([tiles, [[r, r, r + 1, r + 3], [r + 2, r + 1, r + 39, r + 40]]])
    ours = camera_moved.tile_shift_scores(*arrays, tiles.astype(np.int32), max_shift_px=r)
    expected = ref.tile_shift_scores(*arrays, tiles, max_shift_px=r)
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_parity_wide_tiles(simd_path: str) -> None:
    """Tiles 150 and 1700 px wide: float sums go to double after fewer rows (down to one)."""
    arrays = gradients((60, 1710), 11)
    tiles = np.array([[4, 4, 154, 56], [4, 4, 1704, 30]], np.int32)
    ours = camera_moved.tile_shift_scores(*arrays, tiles, max_shift_px=4)
    expected = ref.tile_shift_scores(*arrays, tiles, max_shift_px=4)
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_odd_tiles_and_zero_energy() -> None:
    """Odd widths (the loop's tail), one-pixel tiles and a blank live image (score 0)."""
    gx, gy, lx, ly = gradients((30, 33), 4)
    tiles = np.array([[4, 4, 5, 5], [4, 5, 29, 6], [3, 3, 30, 27], [10, 8, 17, 21]], np.int32)
    for live in ((lx, ly), (np.zeros_like(lx), np.zeros_like(ly))):
        ours = camera_moved.tile_shift_scores(gx, gy, *live, tiles, max_shift_px=3)
        expected = ref.tile_shift_scores(gx, gy, *live, tiles, max_shift_px=3)
        np.testing.assert_allclose(ours, expected, atol=2e-5)
    assert not camera_moved.tile_shift_scores(gx, gy, 0 * lx, 0 * ly, tiles, max_shift_px=3).any()


@pytest.mark.parametrize(("dx", "dy"), [(0, 0), (3, -2), (-4, 4), (1, 0)])
def test_peak_at_the_true_shift(dx: int, dy: int) -> None:
    """The live image is the reference moved by (dx, dy): that shift scores 1, the peak."""
    gx, gy, _, _ = gradients((64, 80), 5)
    lx, ly = np.roll(gx, (dy, dx), axis=(0, 1)), np.roll(gy, (dy, dx), axis=(0, 1))
    r = 5
    tiles = grid_tiles((64, 80), r, 3, 2)
    scores = camera_moved.tile_shift_scores(gx, gy, lx, ly, tiles, max_shift_px=r)
    for t in range(len(tiles)):
        iy, ix = np.unravel_index(np.argmax(scores[t]), scores[t].shape)
        assert (ix - r, iy - r) == (dx, dy)
        assert scores[t, iy, ix] == pytest.approx(1.0, abs=1e-5)
    # a brightness/contrast change scales the gradients: the scores do not change
    scaled = camera_moved.tile_shift_scores(gx, gy, 2.5 * lx, 2.5 * ly, tiles, max_shift_px=r)
    np.testing.assert_allclose(scaled, scores, atol=1e-5)


GOOD = gradients((20, 20), 6)
BAD_CASES = [
    ({"ref_gx": GOOD[0].astype(np.float64)}, "ref_gx: expected dtype float32"),
    ({"live_gy": GOOD[3][:10]}, r"live_gy: expected shape \(20, 20\)"),
    ({"ref_gy": GOOD[1][None]}, r"ref_gy: expected shape \(H, W\)"),
    ({"ref_gx": [[1.0]]}, "ref_gx: expected a numpy array"),
    ({"max_shift_px": -1}, r"max_shift_px: expected a value in \[0, 256\]"),
    ({"max_shift_px": 2.0}, "max_shift_px: expected an int"),
    ({"tiles_xyxy": np.array([[2, 2, 10, 10]])}, r"tiles_xyxy\[0\].*at least max_shift_px=3"),
    ({"tiles_xyxy": np.array([[5, 5, 5, 10]])}, r"tiles_xyxy\[0\].*non-empty"),
    ({"tiles_xyxy": np.array([[5.0, 5, 9, 9]])}, r"tiles_xyxy: expected \(T, 4\) integers"),
    ({"tiles_xyxy": np.array([5, 5, 9, 9])}, r"tiles_xyxy: expected \(T, 4\) integers"),
]


@pytest.mark.parametrize(("change", "message"), BAD_CASES)
def test_bad_input_names_the_argument(change: dict, message: str) -> None:
    args = {"ref_gx": GOOD[0], "ref_gy": GOOD[1], "live_gx": GOOD[2], "live_gy": GOOD[3],
            "tiles_xyxy": np.array([[4, 4, 12, 12]]), "max_shift_px": 3, **change}  # fmt: skip
    r = args.pop("max_shift_px")
    with pytest.raises(ValueError, match=message):
        camera_moved.tile_shift_scores(*args.values(), max_shift_px=r)


def test_same_scores_as_opencv_match_template() -> None:
    """A second oracle: OpenCV's normalised cross-correlation of the two-channel gradients."""
    arrays = gradients((90, 120), 7)
    r = 6
    tiles = grid_tiles((90, 120), r, 3, 2)
    ours = camera_moved.tile_shift_scores(*arrays, tiles, max_shift_px=r)
    template, live = cv2.merge(arrays[:2]), cv2.merge(arrays[2:])
    for t, (x0, y0, x1, y1) in enumerate(tiles):
        window = live[y0 - r : y1 + r, x0 - r : x1 + r]
        expected = cv2.matchTemplate(window, template[y0:y1, x0:x1], cv2.TM_CCORR_NORMED)
        np.testing.assert_allclose(ours[t], expected, atol=1e-4)

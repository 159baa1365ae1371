"""Parity tests of the motion kernels against their NumPy/SciPy references."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from carbonedge.kernels import motion
from carbonedge.kernels import reference as ref

RATES = {"alpha": 0.02, "alpha_foreground": 0.002, "threshold_levels": 20.0}


def make_mask(rows: list[str]) -> np.ndarray:
    """Mask from strings: '#' foreground, '.' background."""
    cells = [[c == "#" for c in row] for row in rows]
    return np.array(cells, dtype=np.uint8).reshape(len(rows), -1)


def random_mask(shape: tuple[int, int], density: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(1, 256, shape).astype(np.uint8)  # any non-zero value is foreground
    return (rng.random(shape) < density).astype(np.uint8) * values


def assert_cc_parity(mask: np.ndarray, min_area_px: int = 1) -> tuple[np.ndarray, np.ndarray]:
    boxes, areas = motion.connected_components(mask, min_area_px=min_area_px)
    ref_boxes, ref_areas = ref.connected_components(mask, min_area_px=min_area_px)
    assert boxes.dtype == np.float32 and boxes.shape == (len(areas), 4)
    assert areas.dtype == np.int32
    np.testing.assert_array_equal(boxes, ref_boxes)
    np.testing.assert_array_equal(areas, ref_areas)
    return boxes, areas


# --- connected_components: fixed inputs ------------------------------------------------------

CC_FIXED = [
    # (rows, expected boxes xyxy, expected areas)
    (["#.#", ".#.", "#.#"], [[0, 0, 3, 3]], [5]),  # an X: diagonals touch (8-connectivity)
    ([".#", "#."], [[0, 0, 2, 2]], [2]),  # anti-diagonal pair
    (["#..#", "#..#", "####"], [[0, 0, 4, 3]], [8]),  # U: two labels merged on the last row
    (["#.#.#", "#.#.#", "#####"], [[0, 0, 5, 3]], [11]),  # E-comb: three labels merged
    (["..#", ".#.", "#.."], [[0, 0, 3, 3]], [3]),  # staircase up-right (c bridges d)
    (["#.#", "..#", "#.."], [[0, 0, 1, 1], [2, 0, 3, 2], [0, 2, 1, 3]], [1, 2, 1]),  # raster order
    (["..#", "#.#", ".#."], [[0, 0, 3, 3]], [4]),  # first pixel (2, 0) but label of (0, 1) joins
    (["...", ".#.", "..."], [[1, 1, 2, 2]], [1]),
    (
        ["##.##", ".....", "##.##"],
        [[0, 0, 2, 1], [3, 0, 5, 1], [0, 2, 2, 3], [3, 2, 5, 3]],
        [2, 2, 2, 2],
    ),
    (["#"], [[0, 0, 1, 1]], [1]),
    (["."], [], []),
]


@pytest.mark.parametrize(("rows", "boxes", "areas"), CC_FIXED)
def test_connected_components_fixed(rows: list[str], boxes: list, areas: list) -> None:
    got_boxes, got_areas = assert_cc_parity(make_mask(rows))
    np.testing.assert_array_equal(got_boxes, np.array(boxes, np.float32).reshape(-1, 4))
    np.testing.assert_array_equal(got_areas, np.array(areas, np.int32))


def test_connected_components_spiral_merges_into_one() -> None:
    mask = np.zeros((21, 21), np.uint8)
    cv2.polylines(
        mask,
        [
            np.array(
                [
                    [10, 10],
                    [12, 10],
                    [12, 13],
                    [7, 13],
                    [7, 6],
                    [16, 6],
                    [16, 17],
                    [3, 17],
                    [3, 2],
                    [19, 2],
                ]
            )
        ],
        False,
        1,
    )
    boxes, areas = assert_cc_parity(mask)
    assert len(areas) == 1 and areas[0] == int(mask.sum())


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0)])
def test_connected_components_zero_size(shape: tuple[int, int]) -> None:
    boxes, areas = assert_cc_parity(np.zeros(shape, np.uint8))
    assert boxes.shape == (0, 4) and areas.shape == (0,)


def test_connected_components_all_zero_and_all_one() -> None:
    assert len(assert_cc_parity(np.zeros((7, 13), np.uint8))[1]) == 0
    boxes, areas = assert_cc_parity(np.full((7, 13), 3, np.uint8))
    np.testing.assert_array_equal(boxes, [[0, 0, 13, 7]])
    np.testing.assert_array_equal(areas, [91])


@pytest.mark.parametrize("shape", [(1, 1), (1, 50), (50, 1), (7, 13), (64, 64), (241, 319)])
@pytest.mark.parametrize("density", [0.05, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("seed", [0, 1])
def test_connected_components_random_parity(
    shape: tuple[int, int], density: float, seed: int
) -> None:
    assert_cc_parity(random_mask(shape, density, seed))


@pytest.mark.parametrize("min_area_px", [0, 1, 2, 5, 40, 10**12])
def test_connected_components_min_area(min_area_px: int) -> None:
    mask = random_mask((60, 80), 0.45, 3)
    boxes, areas = assert_cc_parity(mask, min_area_px)
    assert np.all(areas >= min_area_px)


def test_connected_components_matches_opencv_stats() -> None:
    mask = random_mask((120, 160), 0.4, 11)
    boxes, areas = motion.connected_components(mask)
    n, _, stats, _ = cv2.connectedComponentsWithStats((mask > 0).astype(np.uint8), connectivity=8)
    cv_rows = {(x, y, x + w, y + h, a) for x, y, w, h, a in stats[1:n].tolist()}
    ours = {tuple(int(v) for v in b) + (int(a),) for b, a in zip(boxes, areas, strict=True)}
    assert ours == cv_rows


def test_connected_components_accepts_bool_and_views() -> None:
    mask = random_mask((40, 50), 0.4, 5)
    expected = ref.connected_components(mask[:, ::2] > 0)
    for variant in (mask[:, ::2], mask[:, ::2] > 0):
        boxes, areas = motion.connected_components(variant)
        np.testing.assert_array_equal(boxes, expected[0])
        np.testing.assert_array_equal(areas, expected[1])


@pytest.mark.parametrize(
    ("mask", "kwargs", "message"),
    [
        (np.zeros((2, 2, 1), np.uint8), {}, r"mask: expected shape \(H, W\), got \(2, 2, 1\)"),
        (np.zeros(4, np.uint8), {}, r"mask: expected shape \(H, W\), got \(4,\)"),
        (np.zeros((2, 2), np.float32), {}, "mask: expected dtype uint8, got float32"),
        ([[0, 1]], {}, "mask: expected a numpy array, got list"),
        (np.zeros((2, 2), np.uint8), {"min_area_px": -1}, "min_area_px: expected a value >= 0"),
        (np.zeros((2, 2), np.uint8), {"min_area_px": 2.5}, "min_area_px: expected an int"),
        (np.zeros((2, 2), np.uint8), {"min_area_px": True}, "min_area_px: expected an int"),
    ],
)
def test_connected_components_validation(mask: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        motion.connected_components(mask, **kwargs)  # type: ignore[arg-type]


# --- motion_update ----------------------------------------------------------------------------


def test_motion_update_fixed() -> None:
    gray = np.array([[100, 200, 79, 121]], np.uint8)
    background = np.full((1, 4), 100.0, np.float32)
    mask = motion.motion_update(gray, background, **RATES)
    np.testing.assert_array_equal(mask, [[0, 255, 255, 255]])
    # foreground moves at 0.002, background at 0.02; |d| == threshold_levels is not foreground
    np.testing.assert_allclose(background, [[100.0, 100.2, 99.958, 100.042]], rtol=0, atol=1e-4)
    gray = np.array([[120, 80]], np.uint8)
    mask = motion.motion_update(gray, np.full((1, 2), 100.0, np.float32), **RATES)
    np.testing.assert_array_equal(mask, [[0, 0]])


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (1, 1), (7, 13), (240, 320)])
@pytest.mark.parametrize("seed", [0, 1])
def test_motion_update_random_parity_over_frames(shape: tuple[int, int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    background = rng.uniform(0, 255, shape).astype(np.float32)
    ref_background = background.copy()
    out = np.empty(shape, np.uint8)
    for _ in range(5):
        gray = rng.integers(0, 256, shape, dtype=np.uint8)
        mask = motion.motion_update(gray, background, **RATES, out_mask=out)
        ref_mask = ref.motion_update(gray, ref_background, **RATES)
        assert mask is out
        np.testing.assert_array_equal(mask, ref_mask)
        np.testing.assert_allclose(background, ref_background, rtol=0, atol=1e-4)


def test_motion_update_background_follows_scene_only_below_threshold() -> None:
    gray = np.full((4, 5), 90, np.uint8)
    near = np.full((4, 5), 100.0, np.float32)  # |d| = 10 <= 15: background pixel, converges
    far = np.full((4, 5), 150.0, np.float32)  # |d| = 60 > 15: foreground, frozen at rate 0
    for _ in range(300):
        near_mask = motion.motion_update(
            gray, near, alpha=0.05, alpha_foreground=0.0, threshold_levels=15
        )
        far_mask = motion.motion_update(
            gray, far, alpha=0.05, alpha_foreground=0.0, threshold_levels=15
        )
    assert not near_mask.any() and (far_mask == 255).all()
    np.testing.assert_allclose(near, 90.0, atol=0.01)
    np.testing.assert_array_equal(far, 150.0)


def _bad(**changes: object) -> dict:
    args: dict = {
        "gray": np.zeros((3, 4), np.uint8),
        "background": np.zeros((3, 4), np.float32),
        **RATES,
    }
    args.update(changes)
    return args


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (_bad(gray=np.zeros((3, 4), np.float32)), "gray: expected dtype uint8, got float32"),
        (_bad(gray=np.zeros((3, 4, 3), np.uint8)), r"gray: expected shape \(H, W\)"),
        (_bad(background=np.zeros((3, 4), np.float64)), "background: expected dtype float32"),
        (_bad(background=np.zeros((3, 5), np.float32)), r"background: expected shape \(3, 4\)"),
        (_bad(background=np.zeros((3, 8), np.float32)[:, ::2]), "background: must be C-contiguous"),
        (_bad(alpha=0.0), r"alpha: expected a value in \(0, 1\]"),
        (_bad(alpha=1.5), r"alpha: expected a value in \(0, 1\]"),
        (_bad(alpha_foreground=-0.1), r"alpha_foreground: expected a value in \[0, 1\]"),
        (_bad(threshold_levels=-1.0), "threshold_levels: expected a finite value >= 0"),
        (_bad(threshold_levels=float("nan")), "threshold_levels: expected a finite value >= 0"),
        (_bad(out_mask=np.zeros((3, 4), np.int32)), "out_mask: expected dtype uint8"),
        (_bad(out_mask=np.zeros((4, 3), np.uint8)), r"out_mask: expected shape \(3, 4\)"),
    ],
)
def test_motion_update_validation(args: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        motion.motion_update(args.pop("gray"), args.pop("background"), **args)


def test_motion_update_read_only_background_rejected() -> None:
    background = np.zeros((2, 2), np.float32)
    background.flags.writeable = False
    with pytest.raises(ValueError, match="background: must be C-contiguous and writeable"):
        motion.motion_update(np.zeros((2, 2), np.uint8), background, **RATES)

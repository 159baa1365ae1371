"""Lamp kernels (Numba) against their NumPy/SciPy references: fixed scenes, seeded random
frames, a real dusk frame; and the wrappers' one-line errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.kernels import headlights as hl
from carbonedge.kernels import reference as ref

DUSK = "media/traffic/freeway_dusk_backlit_caltrans_marshrd_jblitzar.mp4"


def lamp_scene(lamps_xywh: list[tuple[int, int, int, int, int]], shape=(60, 100)) -> np.ndarray:
    """Dark road (grey 20) with rectangles (x, y, w, h, grey level)."""
    gray = np.full(shape, 20, np.uint8)
    for x, y, w, h, level in lamps_xywh:
        gray[y : y + h, x : x + w] = level
    return gray


def assert_lamp_parity(gray: np.ndarray, **kw) -> np.ndarray:
    ours = hl.find_lamps(gray, **kw)
    theirs = ref.find_lamps(gray, **kw)
    assert ours.dtype == np.float64 and ours.shape[1] == len(hl.LAMP_COLUMNS)
    np.testing.assert_array_equal(ours, theirs)
    return ours


def assert_pair_parity(lamps: np.ndarray, gap_min, gap_max, **kw) -> np.ndarray:
    pairs, costs = hl.pair_lamps(lamps, gap_min, gap_max, **kw)
    ref_pairs, ref_costs = ref.pair_lamps(lamps, gap_min, gap_max, **kw)
    np.testing.assert_array_equal(pairs, ref_pairs)
    np.testing.assert_array_equal(costs, ref_costs)
    return pairs


def test_two_headlights_are_two_lamps_and_one_pair() -> None:
    gray = lamp_scene([(30, 30, 3, 2, 200), (45, 30, 3, 2, 210)])
    lamps = assert_lamp_parity(gray)
    np.testing.assert_array_equal(
        lamps,
        [[30, 30, 33, 32, 31.5, 31.0, 6, 200], [45, 30, 48, 32, 46.5, 31.0, 6, 210]],
    )
    pairs = assert_pair_parity(lamps, np.full(60, 3.0), np.full(60, 40.0))
    assert pairs.tolist() == [[0, 1]]


@pytest.mark.parametrize(
    ("scene", "kw", "count"),
    [
        ([(30, 30, 3, 2, 200)], {}, 1),
        ([(30, 30, 3, 2, 100)], {}, 0),  # under min_luma
        ([(30, 30, 3, 2, 200)], {"min_contrast_levels": 190}, 0),  # too little above its window
        ([(30, 30, 3, 2, 255)], {"min_contrast_levels": 250}, 1),  # ... but saturated
        ([(30, 30, 1, 1, 200)], {}, 0),  # one pixel: under min_area_px
        ([(10, 10, 40, 20, 200)], {}, 0),  # a lit shop window: over max_area_px
        ([(30, 30, 12, 2, 200)], {}, 0),  # a streak: over max_aspect
        ([(0, 0, 3, 3, 200)], {}, 1),  # at the corner (window clipped at the border)
    ],
)
def test_lamp_limits(scene, kw, count) -> None:
    assert len(assert_lamp_parity(lamp_scene(scene), **kw)) == count


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ((45, 30, 3, 2, 210), "a pair"),
        ((45, 36, 3, 2, 210), "rows differ"),
        ((45, 30, 6, 5, 210), "sizes differ"),
        ((45, 30, 3, 2, 120), "brightness differs"),
        ((80, 30, 3, 2, 210), "too far apart for the row"),
    ],
)
def test_pair_rules(second, why) -> None:
    lamps = assert_lamp_parity(lamp_scene([(30, 30, 3, 2, 200), second]))
    assert len(lamps) == 2, why
    pairs = assert_pair_parity(lamps, np.full(60, 3.0), np.full(60, 40.0))
    assert len(pairs) == (1 if why == "a pair" else 0), why


def test_lamps_sharing_columns_do_not_pair() -> None:
    """A brake light above a tail light is no pair, however lax the row rule."""
    lamps = assert_lamp_parity(lamp_scene([(30, 30, 3, 2, 200), (32, 34, 3, 2, 210)]))
    assert len(lamps) == 2
    assert len(assert_pair_parity(lamps, np.full(60, 0.0), np.full(60, 40.0), max_dy_frac=9)) == 0


def test_each_lamp_pairs_once_best_first() -> None:
    """Three lamps in a row: the middle one goes to its better match (the same brightness)."""
    gray = lamp_scene([(20, 30, 3, 2, 150), (35, 30, 3, 2, 200), (50, 30, 3, 2, 200)])
    lamps = assert_lamp_parity(gray)
    pairs = assert_pair_parity(lamps, np.full(60, 3.0), np.full(60, 40.0))
    assert pairs.tolist() == [[1, 2]]


def test_spacing_table_is_read_at_the_pairs_row() -> None:
    lamps = assert_lamp_parity(lamp_scene([(30, 30, 3, 2, 200), (45, 30, 3, 2, 210)]))
    gap_max = np.full(60, 40.0)
    gap_max[31] = 10.0  # the pair's mean centre row is 31
    assert len(assert_pair_parity(lamps, np.full(60, 3.0), gap_max)) == 0


@pytest.mark.parametrize("seed", range(12))
def test_random_frames(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = rng.integers(1, 90, 2)
    noise = rng.integers(0, 256, (h, w)).astype(np.uint8)
    gray = cv2.GaussianBlur(noise, (5, 5), 0)
    gray = np.clip(gray * rng.uniform(0.5, 2.5), 0, 255).astype(np.uint8)
    kw = {
        "radius_px": int(rng.integers(1, 8)),
        "min_luma": float(rng.uniform(1, 200)),
        "min_contrast_levels": float(rng.uniform(0, 30)),
        "saturation_luma": float(rng.uniform(150, 256)),
        "min_area_px": 1,
        "max_area_px": int(rng.integers(1, 500)),
        "max_aspect": float(rng.uniform(1, 6)),
        "min_fill": float(rng.uniform(0, 0.8)),
    }
    lamps = assert_lamp_parity(gray, **kw)
    gap_min = rng.uniform(0, 5, h)
    gap_max = gap_min + rng.uniform(0, 60, h)
    assert_pair_parity(lamps, gap_min, gap_max, max_dy_frac=1.0, max_size_ratio=4.0)


def test_real_dusk_frame(shared_dir: Path) -> None:
    cap = cv2.VideoCapture(str(shared_dir / DUSK))
    for _ in range(45):
        ok, image = cap.read()
        assert ok
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    lamps = assert_lamp_parity(gray, min_luma=50, min_contrast_levels=25, radius_px=5)
    assert len(lamps) > 10  # car roofs and lights on a nearly black road
    assert len(assert_pair_parity(lamps, np.full(240, 3.0), np.full(240, 60.0))) > 0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hl.find_lamps(np.zeros((4, 4), np.float32)), "gray: expected a \\(H, W\\) uint8"),
        (lambda: hl.find_lamps(np.zeros((4, 4, 3), np.uint8)), "gray: expected"),
        (lambda: hl.find_lamps(np.zeros((4, 4), np.uint8), radius_px=0), "radius_px"),
        (lambda: hl.find_lamps(np.zeros((4, 4), np.uint8), min_luma=0), "min_luma"),
        (lambda: hl.find_lamps(np.zeros((4, 4), np.uint8), max_area_px=0), "min_area_px"),
        (lambda: hl.find_lamps(np.zeros((4, 4), np.uint8), min_fill=2), "min_fill"),
        (lambda: hl.pair_lamps(np.zeros((1, 5)), [1.0], [2.0]), "lamps: expected shape"),
        (lambda: hl.pair_lamps(np.zeros((1, 8)), [1.0], [2.0]), "area_px and mean_luma"),
        (lambda: hl.pair_lamps(np.zeros((0, 8)), [1.0], [2.0, 3.0]), "gap_min_px/gap_max_px"),
        (lambda: hl.pair_lamps(np.zeros((0, 8)), [1.0], [2.0], max_size_ratio=0.5), "max_size"),
    ],
)
def test_bad_input_is_one_clear_error(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()

"""Sliced detection (SAHI-style): slice geometry, the merge across passes, and a real detector
on real footage finding the same cars sliced as whole, with no road user boxed twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_frame
from test_deimv2 import CARS, HIGHWAY, assert_found, read_frames

from carbonedge.kernels import box_iou
from carbonedge.vision.detectors.picodet import PicodetConfig, PicodetDetector
from carbonedge.vision.detectors.slices import merge_passes, slice_boxes


@pytest.mark.parametrize(
    ("hw", "rows", "cols", "overlap"),
    [
        ((240, 320), 1, 2, 0.2),
        ((240, 320), 2, 2, 0.25),
        ((101, 77), 3, 2, 0.0),
        ((9, 9), 1, 1, 0.5),
    ],
)
def test_slices_cover_the_image_and_overlap(hw, rows, cols, overlap) -> None:
    boxes = slice_boxes(hw, rows, cols, overlap)
    assert len(boxes) == rows * cols
    covered = np.zeros(hw, np.int32)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= hw[1] and 0 <= y0 < y1 <= hw[0]
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= 1  # no pixel left out
    if overlap > 0 and cols > 1:  # neighbours share about overlap x a slice's width
        (a0, _, a1, _), (b0, _, _, _) = boxes[0], boxes[1]
        assert abs((a1 - b0) - overlap * (a1 - a0)) <= 1.5


def test_bad_slices_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        slice_boxes((100, 100), 1, 2, 1.0)
    with pytest.raises(ValueError, match="rows, cols"):
        slice_boxes((100, 100), 0, 2, 0.2)


def test_merge_drops_a_box_cut_by_a_slice_border_and_keeps_neighbours() -> None:
    xyxy = np.array(
        [
            [100, 100, 200, 160],  # the whole car (full-image pass), best score
            [100, 100, 150, 160],  # its left half from the left slice
            [150, 100, 200, 160],  # its right half from the right slice
            [205, 100, 300, 160],  # the next car, touching it
            [100, 100, 200, 160],  # a pedestrian box on the car: another NMS group, kept
        ],
        np.float32,
    )
    score = np.array([0.9, 0.8, 0.7, 0.85, 0.6], np.float32)
    group = np.array([0, 0, 0, 0, 1], np.int32)
    keep = merge_passes(xyxy, score, group, iou_threshold=0.45, ios_threshold=0.7, max_det=10)
    assert sorted(keep.tolist()) == [0, 3, 4]


def test_merge_drops_a_box_inside_another_only_across_passes() -> None:
    """With pass ids, two boxes of one pass stay (its own NMS had kept both); a box of another
    pass inside a better one goes as before."""
    xyxy = np.array(
        [
            [100, 100, 200, 160],  # pass 0: a car and its shadow, 0.3
            [130, 110, 200, 160],  # pass 0: the car alone, inside it, 0.25
            [140, 115, 200, 160],  # pass 1 (a window): the car again, inside both, 0.2
        ],
        np.float32,
    )
    score = np.array([0.3, 0.25, 0.2], np.float32)
    group = np.zeros(3, np.int32)
    kw = dict(iou_threshold=0.9, ios_threshold=0.7, max_det=10)
    assert merge_passes(xyxy, score, group, **kw).tolist() == [0]  # no pass ids: one box
    passes = np.array([0, 0, 1], np.int32)
    assert merge_passes(xyxy, score, group, **kw, pass_id=passes).tolist() == [0, 1]


def test_merge_respects_max_det() -> None:
    xyxy = np.array([[i * 20, 0, i * 20 + 10, 10] for i in range(6)], np.float32)
    score = np.linspace(0.9, 0.4, 6).astype(np.float32)
    keep = merge_passes(xyxy, score, np.zeros(6, np.int32), iou_threshold=0.5, ios_threshold=0.7,
                        max_det=4)  # fmt: skip
    assert keep.tolist() == [0, 1, 2, 3]


@pytest.fixture(scope="module")
def highway(shared_dir: Path) -> dict[int, np.ndarray]:
    return read_frames(shared_dir / HIGHWAY, set(CARS))


@pytest.mark.parametrize("slices", [(1, 2), (2, 2)])
def test_sliced_detector_finds_the_cars_once(shared_dir: Path, highway, slices) -> None:
    model = str(shared_dir / "models" / PicodetConfig().model)
    # 0.4: the boxes a track can start from (the default 0.1 adds weak boxes of other labels)
    det = PicodetDetector(PicodetConfig(model=model, slices=slices, score_threshold=0.4))
    for index, cars in CARS.items():
        out = det.detect(make_frame(highway[index], index=index))
        assert_found(out, det, cars)
        iou = box_iou(out.xyxy, out.xyxy)
        np.fill_diagonal(iou, 0)
        assert iou.max(initial=0) <= det.config.nms_iou
        assert (out.xyxy[:, [0, 2]] <= 320).all() and (out.xyxy[:, [1, 3]] <= 240).all()

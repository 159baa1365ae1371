"""Zoom windows (``vision/detectors/zoom.py``): where they go, which boxes they keep, and a road
user too small for the whole-frame pass found in one (the colour-grid model of
``onnx_factory.py``: a saturated 32x32 input cell is exactly one box of its colour)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_frame
from onnx_factory import colour_grid_v8
from pydantic import ValidationError

from carbonedge.vision.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector
from carbonedge.vision.detectors.zoom import (
    ZoomConfig,
    cut_by_window,
    in_own_cell,
    part_of_whole,
    region_windows,
    zoom_windows,
)

RED = (0, 0, 255)


def test_a_line_across_the_frame_gets_overlapping_windows_inside_the_frame() -> None:
    line = np.array([(0, 240), (639, 240)])
    windows = region_windows(line, (480, 640), factor=3.0)
    assert len(windows) == 4  # 640 px of line, windows 213 px wide stepping at most 171 px
    for x0, y0, x1, y1 in windows:
        assert (x1 - x0, y1 - y0) == (213, 160)
        assert 0 <= x0 and x1 <= 640 and 0 <= y0 and y1 <= 480
        assert y0 < 240 < y1
    assert windows[0][0] == 0 and windows[-1][2] == 640  # both ends covered
    for a, b in zip(windows, windows[1:], strict=False):
        assert b[0] < a[2]  # neighbours overlap


def test_a_short_line_in_a_corner_gets_one_window_moved_inside() -> None:
    windows = region_windows(np.array([(620, 470), (635, 478)]), (480, 640), factor=4.0)
    assert windows == [(480, 360, 640, 480)]


def test_a_zone_gets_a_grid_over_its_outline() -> None:
    zone = np.array([(0, 0), (400, 0), (400, 300), (0, 300)])
    windows = region_windows(zone, (480, 640), factor=4.0)  # windows 160x120
    assert len(windows) == 4 * 4
    assert min(w[0] for w in windows) == 0 and max(w[2] for w in windows) >= 400


def test_windows_inside_others_are_left_out_and_the_count_is_capped() -> None:
    a = np.array([(100, 100), (110, 100)])
    b = np.array([(104, 102), (112, 104)])  # nearly the same place: its window is a's
    c = np.array([(500, 400), (510, 400)])
    assert len(zoom_windows([a, b, c], (480, 640), 3.0, max_windows=4)) == 2
    long_line = np.array([(0, 240), (639, 240)])
    assert len(zoom_windows([long_line, c], (480, 640), 3.0, max_windows=3)) == 3


def test_boxes_the_window_cuts_are_marked_but_not_at_the_frames_edge() -> None:
    window = (0, 100, 200, 250)  # its left edge is the frame's
    xyxy = np.array(
        [
            [0, 50, 20, 80],  # at the frame's left edge: whole
            [50, 0, 80, 30],  # touches the window's top (inside the frame): cut
            [180, 40, 200, 60],  # touches its right: cut
            [60, 120, 90, 150],  # at its bottom: cut
            [60, 60, 90, 90],  # inside: whole
        ],
        np.float32,
    )
    assert cut_by_window(xyxy, window, (480, 640)).tolist() == [False, True, True, True, False]


def test_each_box_belongs_to_the_window_nearest_its_centre() -> None:
    windows = [(0, 0, 200, 100), (150, 0, 350, 100)]  # overlapping 150-200
    xyxy = np.array([[160, 40, 170, 50], [180, 40, 190, 50], [20, 40, 30, 50]], np.float32)
    assert in_own_cell(xyxy, 0, windows).tolist() == [True, False, True]
    assert in_own_cell(xyxy, 1, windows).tolist() == [False, True, False]
    assert in_own_cell(xyxy, 0, windows[:1]).tolist() == [True, True, True]


def test_a_part_of_a_large_confident_box_is_a_part_and_nothing_else_is() -> None:
    bus = np.array([[100, 50, 300, 200]], np.float32)  # 150 px tall; windows 100 px tall
    parts = np.array(
        [
            [120, 60, 180, 100],  # a windscreen inside the bus
            [120, 60, 180, 100],  # the same, but the bus box is weak (see below)
            [400, 60, 460, 100],  # outside it
            [90, 40, 310, 210],  # larger than the bus: not a part
        ],
        np.float32,
    )
    score = np.array([0.8, 0.8, 0.8, 0.8], np.float32)
    group = np.zeros(4, np.int32)
    strong = part_of_whole(
        (parts, score, group), (bus, np.array([0.5]), np.zeros(1, np.int32)), 100
    )
    assert strong.tolist() == [True, True, False, False]
    weak = part_of_whole((parts, score, group), (bus, np.array([0.2]), np.zeros(1, np.int32)), 100)
    assert not weak.any()  # a road-wide box at a low score holds far cars, not parts
    small_window = part_of_whole(
        (parts, score, group), (bus, np.array([0.5]), np.zeros(1, np.int32)), 400
    )
    assert not small_window.any()  # a box under half a window tall: far vehicles boxed together
    other_group = part_of_whole(
        (parts, score, group + 1), (bus, np.array([0.5]), np.zeros(1, np.int32)), 100
    )
    assert not other_group.any()  # a person in front of the bus is not a part of it


@pytest.mark.parametrize(
    ("value", "mode"),
    [("off", "off"), (False, "off"), (True, "on"), ("AUTO", "auto"), ({"factor": 2}, "auto")],
)
def test_zoom_shorthands(value, mode) -> None:
    assert ZoomConfig.model_validate(value).mode == mode


def test_zoom_settings_out_of_range_are_refused() -> None:
    with pytest.raises(ValidationError, match="factor"):
        ZoomConfig(factor=1.0)
    with pytest.raises(ValidationError, match="mode"):
        ZoomConfig.model_validate("sometimes")


@pytest.fixture(scope="module")
def grid(tmp_path_factory: pytest.TempPathFactory) -> UltralyticsDetector:
    """The colour-grid model (320x320 input); on a 960x960 frame the whole pass shrinks 3x."""
    model = colour_grid_v8(tmp_path_factory.mktemp("models") / "colour_grid.onnx")
    config = UltralyticsConfig(model=str(model), classes=None, score_threshold=0.5, roi=None,
                               input_fit=False)  # fmt: skip
    return UltralyticsDetector(config)


def test_a_road_user_too_small_for_the_whole_frame_is_found_in_a_window(grid) -> None:
    image = np.zeros((960, 960, 3), np.uint8)
    image[384:416, 384:416] = RED  # 32 px: 10.7 px in the whole pass, one full cell zoomed 3x
    frame = make_frame(image)
    assert len(grid.detect(frame)) == 0
    found = grid.detect(frame, zoom_xyxy=[(320, 320, 640, 640)])
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [384, 384, 416, 416], atol=1)
    assert grid.class_names[found.class_id[0]] == "red"


def test_a_detector_with_zoom_off_ignores_the_windows(grid) -> None:
    """A light profile may switch to a detector with ``zoom: off``: windows handed to it (the
    zoom stage was built for the camera's day detector) run no zoom pass."""
    image = np.zeros((960, 960, 3), np.uint8)
    image[384:416, 384:416] = RED
    off = UltralyticsDetector(grid.config.model_copy(update={"zoom": ZoomConfig(mode="off")}))
    assert off.zoom is None
    assert len(off.detect(make_frame(image), zoom_xyxy=[(320, 320, 640, 640)])) == 0


def test_no_box_of_the_merged_passes_lies_inside_another(grid) -> None:
    image = np.zeros((960, 960, 3), np.uint8)
    image[384:480, 384:480] = RED  # 96 px: one full cell in the whole pass, nine in the window
    frame = make_frame(image)
    assert len(grid.detect(frame)) == 1
    both = grid.detect(frame, zoom_xyxy=[(320, 320, 640, 640)])
    xyxy = both.xyxy
    for i in range(len(xyxy)):
        for j in range(len(xyxy)):
            if i != j:  # box j's area inside box i: under the merge's 0.7
                iw = min(xyxy[i, 2], xyxy[j, 2]) - max(xyxy[i, 0], xyxy[j, 0])
                ih = min(xyxy[i, 3], xyxy[j, 3]) - max(xyxy[i, 1], xyxy[j, 1])
                area_j = (xyxy[j, 2] - xyxy[j, 0]) * (xyxy[j, 3] - xyxy[j, 1])
                assert max(iw, 0) * max(ih, 0) / area_j < 0.7


def test_the_whole_pass_keeps_its_own_boxes_one_inside_another(grid, monkeypatch) -> None:
    """Two boxes of one pass, one inside the other (a car, and the car with its shadow at a
    lower score), were already told apart by that pass's NMS: merging the windows' boxes must
    not drop either (it once did, on every frame with a window anywhere, and tracks that lived
    on such low-score boxes broke: the low-sun junction lost 4 of its 17 crossings)."""
    car = [300.0, 600.0, 380.0, 650.0]
    with_shadow = [240.0, 580.0, 380.0, 650.0]  # holds the car box entirely, scores lower
    whole = (np.array([car, with_shadow], np.float32), np.array([0.3, 0.2], np.float32),
             np.zeros(2, np.int32), np.arange(2, dtype=np.int32))  # fmt: skip
    far_car = (np.array([[10.0, 10.0, 40.0, 30.0]], np.float32), np.array([0.6], np.float32),
               np.zeros(1, np.int32), np.zeros(1, np.int32))  # fmt: skip

    def one_pass(image, frame):  # the whole frame: the two nested boxes; a window: a small car
        return whole if image.shape[:2] == frame.image.shape[:2] else far_car

    monkeypatch.setattr(grid, "_one_pass", one_pass)
    frame = make_frame(np.zeros((960, 960, 3), np.uint8))
    alone = grid.detect(frame)
    zoomed = grid.detect(frame, zoom_xyxy=[(0, 0, 320, 320)])
    np.testing.assert_array_equal(alone.xyxy, whole[0])
    assert sorted(map(tuple, zoomed.xyxy.tolist())) == sorted(
        [tuple(car), tuple(with_shadow), (10.0, 10.0, 40.0, 30.0)]
    )


def test_a_box_the_window_cuts_is_left_to_the_whole_pass(grid) -> None:
    image = np.zeros((960, 960, 3), np.uint8)
    image[384:416, 608:656] = RED  # across the window's right edge (640): one full cell inside
    frame = make_frame(image)
    assert len(grid.detect(frame)) == 0  # too small for the whole pass
    assert len(grid.detect(frame, zoom_xyxy=[(320, 320, 640, 640)])) == 0  # no half box
    assert len(grid.detect(frame, zoom_xyxy=[(320, 320, 672, 640)])) == 1  # a window around it


def test_the_detector_reports_its_zoom_and_scale(grid) -> None:
    assert grid.zoom is not None and grid.zoom.mode == "auto"
    assert grid.model_px_per_frame_px((960, 960)) == pytest.approx(1 / 3)
    assert grid.model_px_per_frame_px((240, 640)) == pytest.approx(0.5)  # letterbox: the smaller
    assert grid.model_px_per_frame_px_xy((240, 640)) == pytest.approx((0.5, 0.5))
    off = UltralyticsDetector(grid.config.model_copy(update={"zoom": ZoomConfig(mode="off")}))
    assert off.zoom is None

"""Drawing what was counted (issue 29): lines, zones, boxes, header on a copy of the frame."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections

from carbonedge.calibration.geometry import LineConfig, ZoneConfig
from carbonedge.runtime.base.types import Detections
from carbonedge.vision.annotate import (
    LINE_BGR,
    ZONE_BGR,
    annotate_frame,
    class_bgr,
    header_text,
)

LINE = LineConfig(id="y150", start_px=(0, 150), end_px=(320, 150))
ZONE = ZoneConfig(id="z", polygon_px=((200, 170), (300, 170), (300, 230), (200, 230)))


def _gray() -> np.ndarray:
    return np.full((240, 320, 3), 90, np.uint8)


def _is(pixels: np.ndarray, bgr: tuple[int, int, int]) -> np.ndarray:
    return np.all(pixels == np.array(bgr, np.uint8), axis=-1)


def test_the_input_frame_is_unchanged_and_the_output_is_a_new_array() -> None:
    image = _gray()
    before = image.copy()
    det = make_detections([[20, 40, 80, 100]], class_id=[1], tracker_id=np.array([7]))
    out = annotate_frame(image, det, ("car", "bus"), lines=[LINE], zones=[ZONE], header="cam")
    assert np.array_equal(image, before)
    assert out is not image and out.shape == image.shape and out.dtype == np.uint8
    assert not np.array_equal(out, image)


def test_the_line_is_drawn_in_the_line_colour_where_the_line_is() -> None:
    out = annotate_frame(_gray(), Detections.empty(), (), lines=[LINE])
    on_line = _is(out[148:153, 200:320], LINE_BGR)  # right of the label
    assert on_line.any(axis=0).all()  # every column has line pixels at y ~ 150
    assert not _is(out[:140], LINE_BGR).any() and not _is(out[160:], LINE_BGR).any()


def test_the_line_label_carries_the_running_counts() -> None:
    counts = {"y150": {"in": {"car": 3, "bus": 1}, "out": {"car": 2}}}
    zero = annotate_frame(_gray(), Detections.empty(), (), lines=[LINE])
    some = annotate_frame(_gray(), Detections.empty(), (), lines=[LINE], line_counts=counts)
    label = (slice(120, 150), slice(0, 140))  # the label sits above the start of the line
    assert (zero[label] != 90).any() and (some[label] != 90).any()
    assert not np.array_equal(zero[label], some[label])  # "in 0 out 0" vs "in 4 out 2"


def test_boxes_are_coloured_by_class_with_a_label_above() -> None:
    det = make_detections([[20, 60, 80, 120], [150, 60, 210, 120]], class_id=[0, 1],
                          tracker_id=np.array([3, 4]))  # fmt: skip
    out = annotate_frame(_gray(), det, ("car", "bus"))
    assert _is(out[90, 18:23], class_bgr(0)).any()  # left edge of box 0
    assert _is(out[90, 148:153], class_bgr(1)).any()  # left edge of box 1
    assert class_bgr(0) != class_bgr(1)
    assert (out[45:59, 20:80] != 90).any()  # the "#3 car 0.90" label band
    assert (out[62:118, 25:75] == 90).all()  # inside the box untouched


def test_speed_is_written_only_when_the_detections_carry_it() -> None:
    xyxy = [[20, 60, 80, 120]]
    plain = annotate_frame(_gray(), make_detections(xyxy, tracker_id=np.array([3])), ("car",))
    fast = annotate_frame(_gray(), make_detections(
        xyxy, tracker_id=np.array([3]), data={"speed_kmh": np.array([54.0], np.float32)}
    ), ("car",))  # fmt: skip
    unknown = annotate_frame(_gray(), make_detections(
        xyxy, tracker_id=np.array([3]), data={"speed_kmh": np.array([np.nan], np.float32)}
    ), ("car",))  # fmt: skip
    assert not np.array_equal(plain, fast)  # "... 54 km/h" makes the label longer
    assert np.array_equal(plain, unknown)


def test_zones_and_the_header_are_drawn() -> None:
    out = annotate_frame(_gray(), Detections.empty(), (), zones=[ZONE],
                         header=header_text("cam", 12, 0.48))  # fmt: skip
    assert _is(out[168:173, 230:300], ZONE_BGR).any()  # top edge of the zone
    assert (out[:12, :100] != 90).any()  # the header band and text
    assert header_text("cam", 12, 0.48) == "cam  frame 12  t 0.48 s"


@pytest.mark.parametrize("image", [np.zeros((240, 320), np.uint8),
                                   np.zeros((240, 320, 3), np.float32)])  # fmt: skip
def test_a_frame_of_the_wrong_kind_is_refused(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"expected \(H, W, 3\) uint8"):
        annotate_frame(image, Detections.empty(), ())

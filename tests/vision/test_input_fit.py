"""The fast defaults of the ONNX detectors: the model input sized to the detector's image
(``input_fit``: no letterbox padding, a crop at the whole frame's scale) and PicoDet rewritten to
such sizes (its channel-shuffle reshapes name the export's grid).

Pure geometry runs without ../shared; the model tests use PicoDet-S and the highway clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import make_frame

from carbonedge.runtime.model_check import match_detections, read_frames
from carbonedge.vision.detectors import model_variants, roi
from carbonedge.vision.detectors.picodet import PicodetConfig, PicodetDetector

CLIP = Path("media") / "traffic" / "highway_cdnet_320x240.avi"


@pytest.mark.parametrize(
    ("frame_hw", "image_hw", "expected"),
    [
        ((240, 320), (240, 320), (320, 416)),  # the whole 4:3 frame: 416x312, up to 32s
        ((720, 1280), (720, 1280), (256, 416)),  # 16:9: 416x234 (the square wastes 44 %)
        ((240, 320), (100, 320), (160, 416)),  # a band around a line: 416x130
        ((720, 1280), (200, 300), (96, 128)),  # a small crop keeps the frame's scale (0.325)
        ((120, 160), (120, 160), (320, 416)),  # a tiny frame is scaled up, as before
        ((480, 640), (10, 10), (32, 32)),  # never under one stride
    ],
)
def test_fitted_input_keeps_the_whole_frame_scale(frame_hw, image_hw, expected) -> None:
    assert roi.fitted_input_hw(frame_hw, image_hw, (416, 416)) == expected


@pytest.mark.parametrize(
    ("frame_hw", "image_hw", "expected"),
    [
        ((240, 320), (240, 320), (416, 416)),  # a stretched whole frame stays as it was
        ((720, 1280), (720, 1280), (416, 416)),
        ((240, 320), (128, 320), (224, 416)),  # y scale 416/240: 221.9 rows
        ((720, 1280), (200, 1280), (128, 416)),  # y scale 416/720: 115.6 rows
    ],
)
def test_a_stretching_model_keeps_its_per_axis_scales(frame_hw, image_hw, expected) -> None:
    assert roi.fitted_input_hw(frame_hw, image_hw, (416, 416), stretch=True) == expected


def test_picodet_rewritten_at_its_own_size_is_the_same_graph(model_dir, variant_cache) -> None:
    """The retargeted reshapes at the export size are the export's: identical outputs."""
    source = model_dir / "picodet_s_416_coco.onnx"
    model = onnx.load(str(source))
    same = model_variants.resize_graph(model, (416, 416), (8, 16, 32, 64))
    x = np.random.default_rng(1).uniform(-2, 2, (1, 3, 416, 416)).astype(np.float32)
    a = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(same.SerializeToString(), providers=["CPUExecutionProvider"])
    for got, want in zip(b.run(None, {"image": x}), a.run(None, {"image": x}), strict=True):
        np.testing.assert_array_equal(got, want)


def test_picodet_resized_finds_the_same_vehicles(with_model_dir, variant_cache, shared_dir):
    """Frame 300 of the highway clip: PicoDet at the fitted 320x416 (no padding) finds the
    boxes the square 416x416 input finds; before the reshape retargeting it could not run."""
    image = read_frames(shared_dir / CLIP, 301)[-1]
    square = PicodetDetector(PicodetConfig(roi=None, input_fit=False))
    fitted = PicodetDetector(PicodetConfig(roi=None, input_fit=False, input_hw=(320, 416)))
    assert fitted.input_hw == (320, 416)
    want, got = square.detect(make_frame(image)), fitted.detect(make_frame(image))
    confident = want[want.confidence >= 0.5]
    assert len(confident) >= 3
    matched, mean_iou = match_detections(confident, got, iou_min=0.7)
    assert matched == len(confident) and mean_iou > 0.85


def test_input_fit_runs_a_crop_at_the_frame_scale(with_model_dir, variant_cache, shared_dir):
    """The default detector on a band around the highway line runs a 224x416 copy of the
    model (made once, then reused) and finds the vehicles the whole-frame pass finds there."""
    images = read_frames(shared_dir / CLIP, 321)[240::10]
    detector = PicodetDetector(PicodetConfig())  # the defaults: roi auto, input_fit
    whole = PicodetDetector(PicodetConfig(roi=None, input_fit=False))
    box = detector.roi_box((240, 320), [np.array([[0.0, 150.0], [320.0, 150.0]])], 64.0)
    assert box == (0, 86, 320, 214)  # not grown to the input's aspect: the input fits it
    matched_all = wanted_all = 0
    for image in images:
        frame = make_frame(image)
        found = detector.detect(frame, box)
        assert found.xyxy[:, 1].min(initial=86) >= 86
        inside = whole.detect(frame)
        inside = inside[(inside.xyxy[:, 1] >= 88) & (inside.xyxy[:, 3] <= 212)]
        inside = inside[inside.confidence >= 0.5]
        matched, _ = match_detections(inside, found, iou_min=0.6)
        matched_all, wanted_all = matched_all + matched, wanted_all + len(inside)
    assert list(detector._fitted) == [(224, 416)]  # stretched: one copy, reused
    assert detector._fitted[(224, 416)].input_hw == (224, 416)
    assert wanted_all >= 3 and matched_all >= wanted_all - 1


def test_a_model_that_cannot_be_resized_keeps_its_size(with_model_dir, caplog) -> None:
    """DEIMv2 (a DETR) refuses another input size: the detector keeps 416x416, says so once."""
    from carbonedge.vision.detectors.deimv2 import Deimv2Config, Deimv2Detector

    detector = Deimv2Detector(Deimv2Config())
    frame = make_frame(np.zeros((240, 320, 3), np.uint8))
    with caplog.at_level("WARNING"):
        detector.detect(frame, (0, 0, 320, 128))
        detector.detect(frame, (0, 0, 320, 128))
    kept = [r for r in caplog.records if "keeps its 416x416 input" in r.getMessage()]
    assert len(kept) == 1
    assert detector._fitted == {(224, 416): detector}


def test_boxes_near_a_line_or_inside_a_zone() -> None:
    """Anchors (bottom centres): on the line, a box height away, far off; inside a triangular
    zone, and inside its bounding box but outside the triangle."""
    line = np.array([[0.0, 100.0], [200.0, 100.0]])
    zone = np.array([[300.0, 0.0], [400.0, 0.0], [300.0, 100.0]])  # right angle at top left
    boxes = np.array(
        [[40, 80, 60, 100],  # anchor on the line
         [40, 60, 60, 80],  # 20 px above it, 20 px tall: within its height
         [40, 0, 60, 10],  # 90 px above, 10 px tall: far
         [300, 0, 320, 20],  # anchor (310, 20): inside the triangle
         [380, 70, 400, 90]],  # anchor (390, 90): in the bounding box, outside the triangle
        np.float32,
    )  # fmt: skip
    assert roi.near_regions(boxes, [line, zone]).tolist() == [True, True, False, True, False]
    assert roi.near_regions(boxes, [line], reach=0.25).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]

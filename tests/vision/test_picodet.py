"""PicoDet backend on real footage: boxes where the cars are, ROI crops, the decode against the
NumPy reference + NMS, errors.

The expected boxes were read off the frames by hand (drawn and looked at); the assertions are
loose (IoU >= 0.6 with a detection of the right class).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_frame
from pydantic import TypeAdapter
from test_deimv2 import CARS, HIGHWAY, VEHICLES, assert_found, names, read_frames

from carbonedge.kernels import _ref_gfl as ref
from carbonedge.kernels import box_iou, nms
from carbonedge.runtime.base.errors import ModelError
from carbonedge.vision.detectors import create_detector
from carbonedge.vision.detectors.picodet import PicodetConfig, PicodetDetector
from carbonedge.vision.detectors.yolo_config import YoloOnnxConfig
from carbonedge.vision.tracking import ByteTrackConfig


@pytest.fixture(scope="module")
def highway(shared_dir: Path) -> dict[int, np.ndarray]:
    return read_frames(shared_dir / HIGHWAY, set(CARS))


@pytest.fixture(scope="module")
def detector(shared_dir: Path) -> PicodetDetector:
    # 0.4: the boxes a track can start from (the default 0.1 also gives the tracker weak boxes)
    model = str(shared_dir / "models" / PicodetConfig().model)
    det = PicodetDetector(PicodetConfig(model=model, score_threshold=0.4))
    det.warmup()
    return det


@pytest.mark.parametrize("index", sorted(CARS))
def test_boxes_where_the_cars_are(detector, highway, index: int) -> None:
    out = detector.detect(make_frame(highway[index], index=index))
    assert_found(out, detector, CARS[index])
    assert set(names(detector, out)) <= VEHICLES
    assert len(CARS[index]) <= len(out) <= len(CARS[index]) + 2
    assert (out.xyxy >= 0).all() and (out.xyxy[:, [0, 2]] <= 320).all()
    assert (out.xyxy[:, [1, 3]] <= 240).all()
    iou = box_iou(out.xyxy, out.xyxy)
    np.fill_diagonal(iou, 0)
    assert iou.max(initial=0) <= detector.config.nms_iou  # one box per car: grouped NMS


def test_coco_street_and_buses(detector, shared_dir: Path) -> None:
    street = cv2.imread(str(shared_dir / "media/images/000000001532.jpg"))
    out = detector.detect(make_frame(street))
    assert_found(out, detector, [(0, 372, 114, 479), (228, 355, 421, 478), (429, 398, 494, 453)])
    assert_found(out, detector, [(103, 373, 189, 439)], classes=("truck", "car"))
    buses = cv2.imread(str(shared_dir / "media/images/000000001584.jpg"))
    out = detector.detect(make_frame(buses))
    boxes = [(129, 84, 517, 535), (506, 314, 567, 385), (568, 318, 611, 404)]
    assert_found(out, detector, boxes, classes=("bus",))


def test_detections_are_the_reference_decode_then_nms(detector, highway) -> None:
    """The detector's output equals the NumPy reference decode followed by grouped NMS."""
    image = highway[870]
    tensor, info = detector._preprocess(image)
    raw = detector.session.run(None, {detector.input_name: tensor})
    xyxy, score, cls, row = ref.decode_gfl(
        raw[:4], raw[4:], (416, 416), info, (240, 320), score_threshold=0.4,
        class_mask=detector.class_mask,
    )  # fmt: skip
    keep = nms(xyxy, score, 0.45, group_id=detector.group_of_class[cls])
    out = detector.detect(make_frame(image, index=870))
    np.testing.assert_array_equal(out.source_row, row[keep])
    np.testing.assert_array_equal(out.class_id, cls[keep])
    np.testing.assert_array_equal(out.confidence, score[keep])
    np.testing.assert_allclose(out.xyxy, xyxy[keep], atol=1e-4)


def test_roi_crop_gives_full_frame_boxes(detector, highway) -> None:
    roi = (60, 40, 260, 240)
    out = detector.detect(make_frame(highway[870], index=870), roi_xyxy=roi)
    assert_found(out, detector, [c for c in CARS[870] if c[1] >= 40])
    assert (out.xyxy[:, [0, 2]] >= 60).all() and (out.xyxy[:, [0, 2]] <= 260).all()
    assert (out.xyxy[:, [1, 3]] >= 40).all() and (out.xyxy[:, [1, 3]] <= 240).all()


def test_a_stretching_model_scales_width_and_height_apart(detector) -> None:
    # the whole 320x240 frame stretched to the 416x416 input
    assert detector.model_px_per_frame_px_xy((240, 320)) == pytest.approx((1.3, 416 / 240))
    assert detector.model_px_per_frame_px((240, 320)) == pytest.approx(416 / 240)


def test_config_from_yaml_keys(with_model_dir: Path) -> None:
    from carbonedge.runtime.config import DetectorConfig

    config = TypeAdapter(DetectorConfig).validate_python({"type": "picodet"})
    assert isinstance(config, PicodetConfig)
    assert config.strides == (8, 16, 32, 64)
    assert config.score_threshold == ByteTrackConfig().low_score  # weak boxes reach the tracker
    assert config.classes == YoloOnnxConfig.model_fields["classes"].default  # not overridden
    det = create_detector(config)
    assert det.name == "picodet:picodet_s_416_coco.onnx" and det.input_hw == (416, 416)


def test_a_yolox_model_is_a_clear_model_error(with_model_dir: Path) -> None:
    with pytest.raises(ModelError) as info:
        PicodetDetector(PicodetConfig(model="yolox_nano_416.onnx"))
    message = str(info.value)
    assert "yolox_nano_416.onnx: expected a PicoDet export without post-processing" in message
    assert "8 outputs [[1, 2704, 80], [1, 676, 80]" in message
    assert "got 1 outputs [[1, 3549, 85]]" in message


def test_a_deimv2_model_is_a_clear_model_error(with_model_dir: Path) -> None:
    with pytest.raises(ModelError, match=r"deimv2_hgnetv2_femto_coco.onnx: expected one image"):
        PicodetDetector(PicodetConfig(model="deimv2_hgnetv2_femto_coco.onnx"))

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_frame
from onnx_factory import colour_grid_v8

from carbonedge.runtime.base.errors import ModelError
from carbonedge.vision.detectors.ultralytics import (
    UltralyticsConfig,
    UltralyticsDetector,
    parse_names,
)
from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector


@pytest.fixture()
def v8_model(tmp_path: Path) -> Path:
    return colour_grid_v8(tmp_path / "colour_grid.onnx")


def test_ultralytics_names_from_metadata(v8_model: Path) -> None:
    det = UltralyticsDetector(UltralyticsConfig(model=str(v8_model), classes=None))
    assert det.class_names == ("red", "green", "blue")
    assert det.input_hw == (320, 320)
    assert det.name == "ultralytics:colour_grid.onnx"


@pytest.mark.parametrize(
    ("bgr", "name"), [((0, 0, 255), "red"), ((255, 0, 0), "blue"), ((0, 255, 0), "green")]
)
def test_ultralytics_box_maps_back_to_image(
    v8_model: Path, bgr: tuple[int, int, int], name: str
) -> None:
    # 640x480 frame -> scale 0.5, centred letterbox: 40 px of padding above and below.
    # Input cell (row 5, col 3) = input px y 160..192, x 96..128 = image px y 240..304, x 192..256.
    image = np.zeros((480, 640, 3), np.uint8)
    image[240:304, 192:256] = bgr
    det = UltralyticsDetector(
        UltralyticsConfig(model=str(v8_model), classes=None, score_threshold=0.5)
    )
    out = det.detect(make_frame(image))
    assert len(out) == 1
    assert det.class_names[out.class_id[0]] == name
    np.testing.assert_allclose(out.xyxy[0], [192, 240, 256, 304], atol=1.0)
    assert out.confidence[0] > 0.9
    assert out.source_row[0] == 5 * 10 + 3


def test_ultralytics_class_filter(v8_model: Path) -> None:
    image = np.zeros((320, 320, 3), np.uint8)
    image[0:32, 0:32] = (0, 0, 255)
    image[64:96, 64:96] = (255, 0, 0)
    det = UltralyticsDetector(
        UltralyticsConfig(model=str(v8_model), classes=("blue",), score_threshold=0.5)
    )
    out = det.detect(make_frame(image))
    assert [det.class_names[c] for c in out.class_id] == ["blue"]


def test_parse_names_variants() -> None:
    assert parse_names("{0: 'fire', 1: 'smoke'}") == ("fire", "smoke")
    assert parse_names("['a', 'b']") == ("a", "b")
    with pytest.raises(ValueError):
        parse_names("{1: 'a'}")


def test_unknown_class_is_model_error(v8_model: Path) -> None:
    with pytest.raises(ModelError, match=r"classes \['car'\] are not among the model's classes"):
        UltralyticsDetector(UltralyticsConfig(model=str(v8_model), classes=("car",)))


def test_yolox_backend_rejects_an_ultralytics_model(v8_model: Path) -> None:
    with pytest.raises(ModelError, match="expected a YOLOX output"):
        YoloxDetector(YoloxConfig(model=str(v8_model)))


def test_corrupt_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x08\x07this is not a protobuf" * 50)
    with pytest.raises(ModelError, match=r"broken.onnx: not a loadable ONNX model"):
        YoloxDetector(YoloxConfig(model=str(bad)))


def test_missing_model_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBONEDGE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(ModelError) as info:
        YoloxDetector(YoloxConfig())
    message = str(info.value)
    assert "yolox_nano_416.onnx" in message and "CARBONEDGE_MODEL_DIR" in message
    assert "sha256 695e750a" in message


def test_yolox_finds_vehicles_on_freeway(with_model_dir: Path, shared_dir: Path) -> None:
    image = cv2.imread(str(shared_dir / "media/images/000000001532.jpg"))
    det = YoloxDetector(YoloxConfig())
    det.warmup()
    out = det.detect(make_frame(image))
    names = [det.class_names[c] for c in out.class_id]
    assert len(out) >= 5, names
    assert set(names) <= {"car", "bus", "truck", "motorcycle"}
    h, w = image.shape[:2]
    assert (out.xyxy[:, [0, 2]] >= 0).all() and (out.xyxy[:, [0, 2]] <= w).all()
    assert (out.xyxy[:, [1, 3]] >= 0).all() and (out.xyxy[:, [1, 3]] <= h).all()
    # grouped NMS: no two kept vehicle boxes overlap heavily, whatever their classes
    from carbonedge.kernels import box_iou

    iou = box_iou(out.xyxy, out.xyxy)
    np.fill_diagonal(iou, 0)
    assert iou.max(initial=0) <= 0.45


def test_yolox_on_double_decker_buses(with_model_dir: Path, shared_dir: Path) -> None:
    image = cv2.imread(str(shared_dir / "media/images/000000001584.jpg"))
    det = YoloxDetector(YoloxConfig())
    out = det.detect(make_frame(image))
    assert "bus" in {det.class_names[c] for c in out.class_id}


def test_half_precision_input_is_a_clear_model_error(tmp_path: Path) -> None:
    model = colour_grid_v8(tmp_path / "half.onnx", fp16_input=True)
    with pytest.raises(ModelError, match=r"half.onnx: expected a float32 image input.*float16"):
        UltralyticsDetector(UltralyticsConfig(model=str(model)))


def test_relative_model_path_is_used_as_given(
    v8_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(v8_model.parent)
    monkeypatch.setenv("CARBONEDGE_MODEL_DIR", "/nonexistent")
    det = UltralyticsDetector(UltralyticsConfig(model=f"./{v8_model.name}"))
    assert det.model_path.resolve() == v8_model.resolve()
    with pytest.raises(ModelError, match="not found"):  # a bare name is never looked up in CWD
        UltralyticsDetector(UltralyticsConfig(model=v8_model.name))

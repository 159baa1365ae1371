"""Model path end to end (an Ultralytics-layout ONNX model the tests build), alarm events,
evidence JPEGs, day/night modes of the pixel detector."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_frame

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/vision: onnx_factory
from onnx_factory import colour_grid_v8  # noqa: E402

from carbonedge.runtime.base.types import Frame  # noqa: E402
from carbonedge.vision.fire import FireMonitor, FireMonitorConfig  # noqa: E402
from carbonedge.vision.fire.events import FireAlarm, FireBox  # noqa: E402
from carbonedge.vision.fire.pixels import PixelFireDetector  # noqa: E402


@pytest.fixture()
def fire_model(tmp_path: Path) -> Path:
    # class k's score in a 32 px cell = the cell's mean of RGB channel k: "smoke" = green
    return colour_grid_v8(tmp_path / "firesmoke.onnx", names=("fire", "smoke", "other"))


def plume_frame(k: int, t_s: float) -> Frame:
    """Dark 640x640 scene; a green column rising from the bottom, one 64 px cell more per frame."""
    image = np.full((640, 640, 3), 20, np.uint8)
    image[640 - 64 * (k + 1) : 640, 256:320] = (0, 255, 0)
    return Frame("cam", k, t_s, 1_767_254_400.0 + t_s, image, 1 / 60)


def test_model_path_end_to_end(fire_model: Path, tmp_path: Path) -> None:
    cfg = FireMonitorConfig(
        detector={"type": "ultralytics", "model": str(fire_model), "score_threshold": 0.5},
        evidence={"dir": str(tmp_path / "evidence")},
    )
    monitor = FireMonitor(cfg, "box-9")
    monitor.warmup()
    assert monitor.detector_name == "ultralytics:firesmoke.onnx"
    events = [e for k in range(6) for e in monitor.update(plume_frame(k, 60.0 * k))]
    start = events[0]
    assert start.status == "start" and start.frame_index == 2 and start.classes == ("smoke",)
    x1, y1, x2, y2 = start.boxes[0].xyxy
    assert (x1, x2, y2) == pytest.approx((256, 320, 640), abs=1) and y1 == pytest.approx(448, abs=1)
    full, crop = cv2.imread(start.evidence_full_path), cv2.imread(start.evidence_crop_path)
    assert full.shape == (640, 640, 3) and crop is not None and crop.shape[0] >= 96
    assert [e.status for e in events[1:]] == ["update"] * (len(events) - 1)


@pytest.mark.parametrize(
    ("roi", "sees_plume"), [((192, 320, 512, 640), True), ((320, 320, 640, 640), False)]
)
def test_model_roi_is_the_part_of_the_frame_it_looks_at(
    fire_model: Path, tmp_path: Path, roi: tuple[int, int, int, int], sees_plume: bool
) -> None:
    cfg = FireMonitorConfig(
        detector={"type": "ultralytics", "model": str(fire_model), "score_threshold": 0.5,
                  "roi": roi},
        evidence={"dir": str(tmp_path / "evidence")},
    )  # fmt: skip
    monitor = FireMonitor(cfg, "box-9")
    events = [e for k in range(6) for e in monitor.update(plume_frame(k, 60.0 * k))]
    assert bool(events) == sees_plume
    if sees_plume:  # boxes in frame px, inside the roi
        x1, y1, x2, y2 = events[0].boxes[0].xyxy
        assert (x1, x2, y2) == pytest.approx((256, 320, 640), abs=1) and y1 >= roi[1]


def test_model_without_fire_classes_is_refused(tmp_path: Path) -> None:
    from carbonedge.runtime.base.errors import ModelError

    model = colour_grid_v8(tmp_path / "m.onnx", names=("fire", "smoke", "other"))
    cfg = FireMonitorConfig(detector={"type": "ultralytics", "model": str(model),
                                      "classes": ("car",)})  # fmt: skip
    with pytest.raises(ModelError, match="not among the model's classes"):
        FireMonitor(cfg, "box")


def test_alarm_to_dict_shape_and_stable_ids() -> None:
    box = FireBox((10.0, 20.0, 30.0, 40.0), "smoke", 0.8)
    kw = dict(device_id="b", source_id="c", started_t_wall_s=1_767_254_400.0,
              t_wall_s=1_767_254_460.0, frame_index=7, classes=("smoke",), confidence=0.8,
              boxes=(box,), image_hw=(480, 640), bearing_deg=12.345)  # fmt: skip
    start = FireAlarm(status="start", update_seq=0, **kw)
    again = FireAlarm(status="start", update_seq=0, **kw)
    update = FireAlarm(status="update", update_seq=1, **kw)
    assert start.id == again.id and start.alarm_id == update.alarm_id and start.id != update.id
    d = json.loads(json.dumps(start.to_dict()))
    assert d == {
        "kind": "fire_alarm", "schema_version": 1, "id": start.id, "alarm_id": start.alarm_id,
        "device_id": "b", "source_id": "c", "status": "start", "update_seq": 0,
        "started_at": "2026-01-01T08:00:00.000Z", "t_wall": "2026-01-01T08:01:00.000Z",
        "frame_index": 7, "classes": ["smoke"], "confidence": 0.8,
        "boxes": [{"xyxy": [10.0, 20.0, 30.0, 40.0], "class_name": "smoke", "confidence": 0.8}],
        "image_width": 640, "image_height": 480, "bearing_deg": 12.35,
        "evidence": {"full": None, "crop": None}, "detector": "pixels", "emissions": None,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("bgr", "mode"), [((30, 30, 30), "night"), ((128, 128, 128), "grey"), ((200, 150, 100), "day")]
)
def test_day_night_and_grey_modes(bgr: tuple[int, int, int], mode: str) -> None:
    from carbonedge.vision.fire.config import PixelDetectorConfig

    det = PixelFireDetector(PixelDetectorConfig())
    image = np.empty((240, 320, 3), np.uint8)
    image[:] = bgr
    det.detect(make_frame(image, index=0, fps=1 / 60))
    det.detect(make_frame(image, index=1, fps=1 / 60))
    assert det.last_mode["cam"] == mode


def test_night_flame_is_a_fire_candidate_and_smoke_is_off() -> None:
    from carbonedge.vision.fire.config import PixelDetectorConfig

    det = PixelFireDetector(PixelDetectorConfig())
    rng = np.random.default_rng(0)
    dark = np.repeat(rng.integers(5, 30, (240, 320, 1), dtype=np.uint8), 3, axis=2)  # textured
    det.detect(make_frame(dark, index=0, fps=1 / 60))
    lit = dark.copy()
    lit[150:170, 100:115] = 255  # a bright new spot on a dark hillside
    lit[40:60, 200:230] = 60  # a faint brightening (would be smoke by day)
    out = det.detect(Frame("cam", 1, 60.0, 60.0, lit, 1 / 60))
    assert det.last_mode["cam"] == "night"
    assert out.class_id.tolist() == [1]
    np.testing.assert_allclose(out.xyxy[0], [100, 150, 115, 170], atol=3)

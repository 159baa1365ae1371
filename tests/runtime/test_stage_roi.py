"""The ROI stage: the box from the detector's ``roi`` setting and the camera's lines and zones, set
on the packet; the detector crops to it, and one detector instance serves cameras with different
regions (no per-camera state in the detector).

Model-free tests use the colour-grid model (``tests/vision/onnx_factory.py``: a saturated 32x32
input cell becomes exactly one box of its colour); the parity test runs YOLOX-nano from ../shared
on a frame of the highway clip against the boxes the detector-internal ROI path produced there
before the ROI became a stage.
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_frame

from carbonedge.calibration.geometry import LineConfig, ZoneConfig
from carbonedge.runtime.base.stage import StageContext
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.model_check import read_frames
from carbonedge.runtime.stages import build_stages
from carbonedge.runtime.stages.roi import RoiStage
from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig
from carbonedge.vision.detectors.ultralytics import UltralyticsConfig, UltralyticsDetector
from carbonedge.vision.detectors.yolox import YoloxConfig, YoloxDetector

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vision"))  # onnx_factory
from onnx_factory import colour_grid_v8  # noqa: E402

CLIP = Path("media") / "traffic" / "highway_cdnet_320x240.avi"
RED, BLUE = (0, 0, 255), (255, 0, 0)


def make_camera(lines=(), zones=(), fire=None) -> SimpleNamespace:
    """A resolved camera as the stages see it: ``lines``, ``zones`` (and ``fire``)."""
    return SimpleNamespace(lines=list(lines), zones=list(zones), fire=fire)


def make_line(start_px, end_px, id: str = "l") -> LineConfig:
    return LineConfig(id=id, start_px=start_px, end_px=end_px)


def build(camera, detector) -> RoiStage | None:
    context = StageContext(device_id="box", camera_id="cam", services={"detector": detector})
    stages = build_stages(camera, context, ("roi",))  # the pipeline's rule for vehicle stages
    for stage in stages:
        stage.start(context)
    return stages[0] if stages else None


@pytest.fixture(scope="module")
def grid_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Colour-grid model, 320x320 input (1:1), classes red/green/blue."""
    return colour_grid_v8(tmp_path_factory.mktemp("models") / "colour_grid.onnx")


def grid_detector(model: Path, **settings) -> UltralyticsDetector:
    config = UltralyticsConfig(model=str(model), classes=None, score_threshold=0.5, **settings)
    return UltralyticsDetector(config)


# frame 640x480, model input 320x320: every box grows (about its centre) to 1:1
@pytest.mark.parametrize(
    ("settings", "lines", "zones", "expected"),
    [
        # a short line, margin 10: (90, 190, 210, 210) grown to 120 px high
        ({"roi": "auto", "roi_margin_px": 10}, [((100, 200), (200, 200))], [], (90, 140, 210, 260)),
        # a line and a zone: the bounding box of both, no margin (already 1:1)
        ({"roi": "auto", "roi_margin_px": 0}, [((100, 200), (200, 200))],
         [((150, 150), (200, 150), (200, 250))], (100, 150, 200, 250)),
        # a full-width line: grows to the whole frame, which is no crop at all
        ({"roi": "auto", "roi_margin_px": 16}, [((0, 240), (640, 240))], [], None),
        ({"roi": "auto"}, [], [], None),  # no lines or zones: the whole frame (and a warning)
        ({"roi": (300, 100, 400, 200)}, [((0, 240), (640, 240))], [], (300, 100, 400, 200)),
        # clipped to the frame (600, 400, 640, 480), widened to 80 px, shifted back inside
        ({"roi": (600, 400, 700, 500)}, [], [], (560, 400, 640, 480)),
        ({"roi": (700, 500, 800, 600)}, [], [], "lies outside the 640x480 frame"),
    ],
)  # fmt: skip
def test_box_from_the_roi_setting_and_the_regions(
    grid_model, caplog, settings, lines, zones, expected
) -> None:
    camera = make_camera(
        [make_line(*ends, id=f"l{i}") for i, ends in enumerate(lines)],
        [ZoneConfig(id=f"z{i}", polygon_px=polygon) for i, polygon in enumerate(zones)],
    )
    stage = build(camera, grid_detector(grid_model, **settings))
    assert stage is not None
    packet = Packet(make_frame(np.zeros((480, 640, 3), np.uint8), index=3))
    if isinstance(expected, str):
        with pytest.raises(ValueError, match=rf"^frame cam#3: roi \[.*\] {expected}"):
            stage.process(packet)
        return
    with caplog.at_level(logging.INFO, logger="carbonedge.runtime.stages.roi"):
        assert stage.process(packet).roi_xyxy == expected
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    no_regions = settings["roi"] == "auto" and not lines and not zones
    assert warned == (["frame cam#3: roi auto, but no lines or zones: whole frame"] * no_regions)


def test_no_stage_without_a_roi_setting(grid_model) -> None:
    camera = make_camera([make_line((0, 240), (640, 240))])
    assert build(camera, grid_detector(grid_model)) is None
    assert build(camera, MotionDetector(MotionDetectorConfig())) is None
    lookout = make_camera(fire=object())  # fire monitor only: no detect stage, no roi
    assert build(lookout, grid_detector(grid_model, roi="auto")) is None


def test_box_is_kept_per_frame_size(grid_model, caplog) -> None:
    camera = make_camera([make_line((100, 200), (200, 200))])
    stage = build(camera, grid_detector(grid_model, roi="auto", roi_margin_px=10))
    assert stage is not None
    with caplog.at_level(logging.INFO, logger="carbonedge.runtime.stages.roi"):
        for index in range(3):
            frame = make_frame(np.zeros((480, 640, 3), np.uint8), index=index)
            assert stage.process(Packet(frame)).roi_xyxy == (90, 140, 210, 260)
        small = make_frame(np.zeros((240, 320, 3), np.uint8), index=3)  # new size, shifted up
        assert stage.process(Packet(small)).roi_xyxy == (90, 120, 210, 240)
    computed = [r.getMessage() for r in caplog.records if "detecting inside" in r.getMessage()]
    assert computed == [
        "frame cam#0: detecting inside (90, 140, 210, 260)",
        "frame cam#3: detecting inside (90, 120, 210, 240)",
    ]


def test_detect_refuses_a_box_outside_the_frame(grid_model) -> None:
    detector = grid_detector(grid_model)
    frame = make_frame(np.zeros((240, 320, 3), np.uint8), index=5)
    with pytest.raises(ValueError, match=r"frame cam#5: roi \[0, 0, 330, 100\] is not inside"):
        detector.detect(frame, (0, 0, 330, 100))


def test_one_detector_serves_two_cameras_with_their_own_crops(grid_model) -> None:
    """Camera A counts near a red mark, camera B near a blue one, in the same 640x480 picture.
    Each 16 px mark is half a model cell in the whole frame (scaled 0.5: not found) but a whole
    cell in its camera's 160x160 crop (scaled 2): each camera finds its own mark only, in frame
    px, with the two cameras interleaved on one thread and then on two threads at once."""
    image = np.zeros((480, 640, 3), np.uint8)
    image[64:80, 80:96] = RED  # crop A (32, 16, 192, 176): crop px (48, 48)-(64, 64)
    image[368:384, 464:480] = BLUE  # crop B (416, 320, 576, 480): crop px (48, 48)-(64, 64)
    detector = grid_detector(grid_model, roi="auto", roi_margin_px=32)
    assert not hasattr(detector, "use_regions")
    cameras = {
        "a": make_camera([make_line((64, 96), (160, 96))]),
        "b": make_camera([make_line((448, 400), (544, 400))]),
    }
    stages = {cam: build(camera, detector) for cam, camera in cameras.items()}
    expected = {"a": ("red", [80, 64, 96, 80]), "b": ("blue", [464, 368, 480, 384])}
    assert len(detector.detect(make_frame(image))) == 0  # the whole frame: marks too small

    def run(cam: str, index: int) -> tuple[tuple[int, int, int, int] | None, list]:
        packet = stages[cam].process(Packet(make_frame(image, index=index, source_id=cam)))
        found = detector.detect(packet.frame, packet.roi_xyxy)
        return packet.roi_xyxy, [(detector.class_names[c], b) for c, b in
                                 zip(found.class_id, found.xyxy.tolist(), strict=True)]  # fmt: skip

    serial = [(cam, run(cam, index)) for index in range(3) for cam in ("a", "b")]
    with ThreadPoolExecutor(2) as pool:
        futures = [(cam, pool.submit(run, cam, index)) for index in range(20) for cam in "ab"]
        parallel = [(cam, future.result()) for cam, future in futures]
    for cam, (box, found) in serial + parallel:
        assert box == {"a": (32, 16, 192, 176), "b": (416, 320, 576, 480)}[cam]
        assert len(found) == 1 and found[0][0] == expected[cam][0]
        np.testing.assert_allclose(found[0][1], expected[cam][1], atol=1e-3)


def test_stage_then_detect_matches_the_detector_internal_roi_path(
    with_model_dir, shared_dir, tmp_path, monkeypatch
) -> None:
    """Frame 840 of the highway clip, YOLOX-nano at 128x320, ``roi: auto`` around the line at
    y = 150 px with a 64 px margin: the boxes the detector found when it kept the ROI itself
    (measured before the change; bit-identical then on 43 frames of the clip and four ROI
    settings, 270 boxes), and exactly what running the crop alone and shifting it gives."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the 128x320 variant is written there
    image = read_frames(shared_dir / CLIP, 841)[-1]
    detector = YoloxDetector(YoloxConfig(input_hw=(128, 320), roi="auto", roi_margin_px=64))
    stage = build(make_camera([make_line((0.0, 150.0), (320.0, 150.0))]), detector)
    assert stage is not None
    packet = stage.process(Packet(make_frame(image, index=840, fps=60.0)))
    assert packet.roi_xyxy == (0, 86, 320, 214)  # as the detector computed it before
    found = detector.detect(packet.frame, packet.roi_xyxy)
    np.testing.assert_allclose(
        found.xyxy,
        [[186.5, 90.08, 239.33, 139.68], [132.58, 86.0, 175.53, 109.03],
         [42.98, 139.5, 124.5, 213.27]], atol=0.02,
    )  # fmt: skip
    np.testing.assert_allclose(found.confidence, [0.877, 0.767, 0.763], atol=0.002)
    assert found.class_id.tolist() == [2, 2, 2] and found.source_row.tolist() == [673, 59, 765]
    alone = detector.detect(make_frame(np.ascontiguousarray(image[86:214, 0:320])))
    np.testing.assert_array_equal(found.xyxy, alone.xyxy + np.float32([0, 86, 0, 86]))
    np.testing.assert_array_equal(found.confidence, alone.confidence)

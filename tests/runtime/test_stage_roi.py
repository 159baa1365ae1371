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
from conftest import make_detections, make_frame

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
    """The colour-grid detector with the roi settings these tests give (none: no roi) and its
    input kept at 320x320 (the box grows to the input's aspect) unless they set input_fit."""
    settings = {"roi": None, "input_fit": False, **settings}
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
    detector = YoloxDetector(
        YoloxConfig(input_hw=(128, 320), roi="auto", roi_margin_px=64, input_fit=False)
    )
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


# --- learned margins (roi: auto with no roi_margin_px: the default) ----------------------------
def tracked(boxes, ids):
    detections = make_detections(boxes, 0.9, 2)
    detections.tracker_id = np.asarray(ids, np.int64)
    return detections


def feed(stage: RoiStage, frames: list, start: int = 0) -> list:
    """Each item: the tracked boxes the pipeline ends the frame with; the crop of each frame."""
    crops = []
    for i, detections in enumerate(frames, start=start):
        packet = stage.process(Packet(make_frame(np.zeros((480, 640, 3), np.uint8), index=i)))
        crops.append(packet.roi_xyxy)
        packet.detections = detections  # what detect + track left on it
    return crops


def test_whole_frame_until_enough_vehicles_then_the_learned_crop(grid_model, caplog) -> None:
    """Line at y = 300: three vehicles (40x20 and 60x30 px boxes) reach it, one box far from it
    (a car parked up the road) must not count; with roi_learn_vehicles 3 the crop follows from
    the median box at the line: 2 heights above, 1 below, 1 width to each side."""
    camera = make_camera([make_line((200, 300), (400, 300))])
    stage = build(
        camera,
        grid_detector(
            grid_model, roi="auto", roi_learn_vehicles=3, input_fit=True, roi_learned="apply"
        ),
    )
    assert stage is not None and stage.snapshot()["state"] == "learning"
    car = lambda x, w, h: [x, 300 - h, x + w, 300]  # noqa: E731 - anchor on the line
    frames = [
        tracked([car(220, 40, 20), [10, 10, 200, 100]], [1, 9]),  # id 9 far from the line
        tracked([car(300, 40, 20)], [2]),
        tracked([car(220, 40, 20), car(300, 40, 20)], [1, 2]),
        tracked([car(320, 60, 30)], [3]),  # the third vehicle: learned after this frame
        tracked([], []),
    ]
    with caplog.at_level(logging.INFO, logger="carbonedge.runtime.stages.roi"):
        crops = feed(stage, frames)
    assert crops[:4] == [None] * 4
    # median box 40x20 -> margins [40, 40, 40, 20]: (200-40, 300-40, 400+40, 300+20)
    assert stage.margin_px == [40.0, 40.0, 40.0, 20.0]
    assert crops[4] == (160, 260, 440, 320)
    snap = stage.snapshot()
    assert snap["state"] == "learned" and snap["box"] == [160, 260, 440, 320]
    assert "roi_margin_px: [40.0, 40.0, 40.0, 20.0]" in snap["hint"]
    assert any("learned the detector's crop from 3 vehicles" in r.getMessage()
               for r in caplog.records)  # fmt: skip


def test_a_vehicle_cut_by_the_crop_grows_that_side(grid_model) -> None:
    """After learning, a lorry crossing the line whose box reaches the crop's top edge grows
    the top margin by half; a box touching the bottom edge far below the line does not count,
    and neither does a road-wide false box."""
    camera = make_camera([make_line((200, 300), (400, 300))])
    stage = build(
        camera,
        grid_detector(
            grid_model, roi="auto", roi_learn_vehicles=1, input_fit=True, roi_learned="apply"
        ),
    )
    feed(stage, [tracked([[220, 280, 260, 300]], [1]), tracked([], [])])
    assert stage.snapshot()["box"] == [160, 260, 440, 320]  # margins [40, 40, 40, 20]
    below = [300, 300, 340, 320]  # anchor 20 px below the line: not crossing
    road_wide = [0, 260, 640, 480]
    crops = feed(stage, [tracked([below, road_wide], [4, 5]), tracked([], [])], start=2)
    assert crops[-1] == (160, 260, 440, 320)
    lorry = [250, 260, 330, 301]  # crossing, its top at the crop's top edge
    crops = feed(stage, [tracked([lorry], [6]), tracked([], [])], start=4)
    assert stage.margin_px == [40.0, 60.0, 40.0, 20.0]
    assert crops[-1] == (160, 240, 440, 320)


def test_margins_set_in_the_config_are_not_learned(grid_model) -> None:
    camera = make_camera([make_line((200, 300), (400, 300))])
    stage = build(camera, grid_detector(grid_model, roi="auto", roi_margin_px=10, input_fit=True))
    assert stage.learn_vehicles is None
    assert feed(stage, [tracked([], [])]) == [(190, 290, 410, 310)]
    assert stage.snapshot() == {"box": [190, 290, 410, 310], "state": "configured"}


def test_by_default_the_learned_crop_is_only_proposed(grid_model, caplog) -> None:
    """roi_learned: propose (the default): the margins are learned and shown with the setting
    that applies them, but every frame is still detected whole."""
    camera = make_camera([make_line((200, 300), (400, 300))])
    stage = build(camera, grid_detector(grid_model, roi="auto", roi_learn_vehicles=1,
                                        input_fit=True))  # fmt: skip
    with caplog.at_level(logging.INFO, logger="carbonedge.runtime.stages.roi"):
        crops = feed(stage, [tracked([[220, 280, 260, 300]], [1])] + [tracked([], [])] * 3)
    assert crops == [None] * 4
    snap = stage.snapshot()
    assert snap["state"] == "proposed" and snap["box"] is None
    assert snap["proposed_box"] == [160, 260, 440, 320]
    assert "roi_margin_px: [40.0, 40.0, 40.0, 20.0]" in snap["hint"]
    assert "roi_learned: apply" in snap["hint"]
    assert any("(proposed)" in r.getMessage() for r in caplog.records)


def test_untracked_boxes_at_the_line_teach_nothing(grid_model) -> None:
    """Only tracked boxes (tracker id >= 0) count as vehicles and box samples while learning; the
    samples are the tracked boxes at the line, in order."""
    camera = make_camera([make_line((200, 300), (400, 300))])
    stage = build(camera, grid_detector(grid_model, roi="auto", roi_learn_vehicles=2))
    car = lambda x, w, h: [x, 300 - h, x + w, 300]  # noqa: E731 - anchor on the line
    frames = [
        tracked([car(220, 40, 20), car(300, 60, 30)], [-1, -1]),  # not tracked yet
        tracked([car(220, 40, 20), car(300, 60, 30), [10, 10, 50, 40]], [-1, 4, 5]),
        tracked([], []),
    ]
    feed(stage, frames)
    assert stage._seen_tracks == {4} and stage.margin_px is None
    assert [s.tolist() for s in stage._samples] == [[car(300, 60, 30)]]

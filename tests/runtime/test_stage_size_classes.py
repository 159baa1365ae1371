"""Stage "size_classes" in a camera's pipeline: the crop bounds what counts as a whole box, the
scene's car scale is shown in ``/healthz`` (learning, then each line's car heights) with a hint
and a warning where cars at a line are too small to count well."""

from __future__ import annotations

import logging

import numpy as np
from conftest import make_detections, make_frame

from carbonedge.calibration.geometry import LineConfig
from carbonedge.runtime.base.stage import StageContext
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages.size_classes import SizeClassesStage
from carbonedge.vision.taxonomy import ROAD_V1, RoadClassesConfig

CAR, HGV = ROAD_V1.index("car"), ROAD_V1.index("hgv")
LINES = [
    LineConfig(id="near", start_px=(0, 200), end_px=(320, 210)),
    LineConfig(id="far", start_px=(0, 40), end_px=(320, 50)),
]


def _stage() -> SizeClassesStage:
    stage = SizeClassesStage(RoadClassesConfig(), ROAD_V1, LINES)
    stage.start(StageContext(device_id="box", camera_id="cam"))
    return stage


def _cars(frame: int, n: int = 10):
    """n cars at rows 60-230 of a 320x240 picture, 0.2 px of height per row below y = 0."""
    y = np.linspace(60, 230, n) + (frame % 3)
    h = 0.2 * y
    x0 = np.linspace(10, 250, n)
    xyxy = np.column_stack([x0, y - h, x0 + 1.3 * h, y])
    return make_detections(xyxy, confidence=0.8, class_id=CAR,
                           tracker_id=np.arange(n) + 100 * (frame // 5))  # fmt: skip


def test_healthz_shows_the_car_scale_learning_then_the_car_heights_at_the_lines(caplog) -> None:
    built = SizeClassesStage(RoadClassesConfig(), ROAD_V1, LINES)  # /healthz before start()
    assert built.snapshot() == {"state": "learning", "cars_seen": 0, "cars_needed": 8}
    stage = _stage()
    caplog.set_level(logging.INFO, logger="carbonedge.runtime.stages.size_classes")
    for i in range(30):  # 0.5 s apart: every car sampled
        stage.process(Packet(make_frame(index=i, fps=2.0), _cars(i)))
    snap = stage.snapshot()
    assert snap["state"] == "learned"
    near, far = snap["car_height_px"]["near"], snap["car_height_px"]["far"]
    assert np.allclose(near, [40.0, 42.0], atol=1.0) and np.allclose(far, [8.0, 10.0], atol=1.0)
    assert "line(s) far:" in snap["hint"] and "line(s) near" not in snap["hint"]
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "camera cam: car heights at the lines" in warned[0].getMessage()


def test_a_box_cut_by_the_detectors_crop_measures_nothing() -> None:
    """A lorry whose box the crop cuts to car size stays a lorry; inside the crop it would be
    measured (and a car-sized one made light)."""
    stage = _stage()
    for i in range(30):
        stage.process(Packet(make_frame(index=i, fps=2.0), _cars(i)))

    def box(tid: int):  # 32 px tall at row 182: 0.9 car heights if it were whole
        return make_detections([[100, 150, 140, 182]], class_id=HGV, tracker_id=np.array([tid]))

    for i in range(30, 36):  # the crop's top edge runs along the box's top: cut off
        packet = Packet(make_frame(index=i, fps=2.0), box(1007), roi_xyxy=(0, 150, 320, 240))
        assert stage.process(packet).detections.class_id[0] == HGV
    classes = [
        stage.process(Packet(make_frame(index=i, fps=2.0), box(1008))).detections.class_id[0]
        for i in range(40, 44)
    ]  # fmt: skip
    assert classes == [HGV, HGV, CAR, CAR]  # whole: from its 3rd row a car-sized "truck" is a car

"""The zoom stage: every line starts zoomed (``mode: auto``); the tracks seen at a line decide
whether it stays zoomed; ``on`` never learns, ``off`` (or no lines) builds no stage; and the
windows reach the detector through the detect stage."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_detections, make_frame

from carbonedge.calibration.geometry import LineConfig
from carbonedge.runtime.base.stage import StageContext
from carbonedge.runtime.base.types import Packet
from carbonedge.runtime.stages import build_stages
from carbonedge.vision.detectors.zoom import ZoomConfig


class ScaleOnlyDetector:
    """What the zoom stage asks of a detector: its zoom settings and its whole-frame scale
    (here 0.5: a 40 px box is 20 px to the model). The windows it was given are recorded."""

    def __init__(self, zoom: ZoomConfig | None) -> None:
        self.zoom = zoom
        self.windows: list[tuple] = []

    def model_px_per_frame_px(self, frame_hw):
        return 0.5


def camera(*lines) -> SimpleNamespace:
    return SimpleNamespace(
        lines=[LineConfig(id=f"l{i}", start_px=a, end_px=b) for i, (a, b) in enumerate(lines)],
        zones=[],
        fire=None,
    )


def build(cam, detector, order=("zoom",)):
    context = StageContext(device_id="box", camera_id="cam", services={"detector": detector})
    stages = build_stages(cam, context, order)
    for stage in stages:
        stage.start(context)
    return stages


def run_tracks(stage, height_px: float, tracks: int, y_line: float = 200.0) -> list[Packet]:
    """One frame per track: a box of ``height_px`` whose bottom centre sits on the line, tracked
    (its id set after the stage saw it, as the tracker does)."""
    packets = []
    for i in range(tracks + 1):
        packet = stage.process(Packet(make_frame(np.zeros((480, 640, 3), np.uint8), index=i)))
        box = [300, y_line - height_px, 340, y_line]
        packet.detections = make_detections([box], tracker_id=np.array([i], np.int32))
        packets.append(packet)
    return packets


LINE = ((100, 200), (500, 200))


def test_a_new_camera_zooms_every_line_until_it_has_seen_enough_tracks() -> None:
    (stage,) = build(camera(LINE, ((100, 400), (200, 400))), ScaleOnlyDetector(ZoomConfig()))
    packet = stage.process(Packet(make_frame(np.zeros((480, 640, 3), np.uint8))))
    assert len(packet.zoom_xyxy) >= 2
    snap = stage.snapshot()
    assert snap["line l0"] == {"zoomed": True, "state": "learning", "tracks_seen": 0,
                               "tracks_needed": 8}  # fmt: skip


def test_a_line_of_large_road_users_stops_zooming(caplog) -> None:
    (stage,) = build(camera(LINE), ScaleOnlyDetector(ZoomConfig()))
    with caplog.at_level(logging.INFO, "carbonedge.runtime.stages.zoom"):
        packets = run_tracks(stage, height_px=80, tracks=8)  # 40 px to the model: over 32
    assert packets[0].zoom_xyxy  # zoomed while learning
    last = stage.process(Packet(make_frame(np.zeros((480, 640, 3), np.uint8), index=99)))
    assert last.zoom_xyxy == ()
    assert stage.snapshot()["line l0"] == {"zoomed": False, "state": "decided",
                                           "median_height_model_px": 40.0}  # fmt: skip
    assert "line l0: road users there stand 40.0 px" in caplog.text and "no zoom" in caplog.text


def test_plainly_large_tracks_decide_early() -> None:
    """Three tracks at twice below_px, or five above it (a sign test), decide a line before
    learn_tracks (8) were seen; fewer, or one track under below_px, do not."""

    def state(*heights_px: float) -> str:
        (stage,) = build(camera(LINE), ScaleOnlyDetector(ZoomConfig()))
        for i, h in enumerate(heights_px):  # one frame per track, as run_tracks
            packet = stage.process(Packet(make_frame(np.zeros((480, 640, 3), np.uint8), index=i)))
            packet.detections = make_detections([[300, 200 - h, 340, 200]],
                                                tracker_id=np.array([i], np.int32))  # fmt: skip
        stage.process(Packet(make_frame(np.zeros((480, 640, 3), np.uint8), index=99)))
        return stage.snapshot()["line l0"]["state"]

    # frame px; the model sees half: 130 -> 65 px (twice 32), 70 -> 35 px, 60 -> 30 px
    assert state(130, 130) == "learning"
    assert state(130, 130, 130) == "decided"
    assert state(70, 70, 70, 70) == "learning"
    assert state(70, 70, 70, 70, 70) == "decided"
    assert state(70, 70, 60, 70, 70, 70, 70) == "learning"  # one track under below_px


def test_a_line_of_small_road_users_stays_zoomed() -> None:
    (stage,) = build(camera(LINE), ScaleOnlyDetector(ZoomConfig()))
    run_tracks(stage, height_px=30, tracks=8)  # 15 px to the model
    last = stage.process(Packet(make_frame(np.zeros((480, 640, 3), np.uint8), index=99)))
    assert last.zoom_xyxy
    assert stage.snapshot()["line l0"]["median_height_model_px"] == 15.0


def test_tracks_away_from_the_line_do_not_decide() -> None:
    (stage,) = build(camera(LINE), ScaleOnlyDetector(ZoomConfig()))
    run_tracks(stage, height_px=80, tracks=8, y_line=420)  # 220 px below the line
    assert stage.snapshot()["line l0"]["state"] == "learning"


def test_mode_on_zooms_every_line_without_learning() -> None:
    (stage,) = build(camera(LINE), ScaleOnlyDetector(ZoomConfig(mode="on")))
    run_tracks(stage, height_px=200, tracks=8)
    assert stage.snapshot()["line l0"] == {"zoomed": True, "state": "configured"}


@pytest.mark.parametrize("zoom", [None, ZoomConfig(mode="off")])
def test_no_stage_without_zoom_settings_or_with_zoom_off(zoom) -> None:
    assert build(camera(LINE), ScaleOnlyDetector(zoom)) == []


def test_no_stage_for_a_camera_without_lines_or_zones() -> None:
    assert build(camera(), ScaleOnlyDetector(ZoomConfig())) == []


def test_the_detect_stage_hands_the_windows_to_the_detector() -> None:
    class Recording(ScaleOnlyDetector):
        def detect(self, frame, roi_xyxy=None, zoom_xyxy=()):
            self.windows.append(tuple(zoom_xyxy))
            return make_detections(np.zeros((0, 4)))

    detector = Recording(ZoomConfig(factor=4))
    zoom, detect = build(camera(LINE), detector, ("zoom", "detect"))
    packet = detect.process(zoom.process(Packet(make_frame(np.zeros((480, 640, 3), np.uint8)))))
    assert detector.windows == [packet.zoom_xyxy]
    assert all((x1 - x0, y1 - y0) == (160, 120) for x0, y0, x1, y1 in packet.zoom_xyxy)

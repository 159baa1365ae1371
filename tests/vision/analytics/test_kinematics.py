"""Speeds, stops and distances from tracked boxes, on constructed tracks with known motion."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections

from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.runtime.base.types import Frame
from carbonedge.vision.analytics.kinematics import Kinematics, SpeedConfig

FPS = 10.0
IMAGE = np.zeros((1000, 1000, 3), np.uint8)
TEN_PX_PER_M = GroundPlane(np.diag([0.1, 0.1, 1.0]))  # 10 px = 1 m


def frame(i: int) -> Frame:
    return Frame("cam", i, i / FPS, 1_767_254_400.0 + i / FPS, IMAGE, FPS)


def box_at(x: float, y: float) -> list[float]:
    """A 40 x 30 px box whose bottom-centre anchor is (x, y)."""
    return [x - 20, y - 30, x + 20, y]


def drive(kin: Kinematics, ys, tracker_id: int = 1):
    """One track whose anchor is at (500, y) in frame i; per-frame KinematicsFrame."""
    out = []
    for i, y in enumerate(ys):
        dets = make_detections([box_at(500, y)], tracker_id=np.array([tracker_id]))
        out.append(kin.update(dets, frame(i)))
    return out


def test_constant_speed_is_measured_exactly_and_distance_integrates() -> None:
    kin = Kinematics(SpeedConfig(), TEN_PX_PER_M)
    ys = 100 + 10.0 * np.arange(40)  # 10 px/frame = 1 m per 0.1 s = 36 km/h
    frames = drive(kin, ys)
    speeds = np.array([f.speed_kmh[0] for f in frames])
    assert np.isnan(speeds[:2]).all()  # fewer than min_samples
    np.testing.assert_allclose(speeds[2:], 36.0, rtol=1e-9)
    distance_m = sum(f.step_m[0] for f in frames)
    # 39 m driven; the first two steps come before the speed is known (min_samples = 3)
    assert distance_m == pytest.approx(38.0, rel=1e-9)
    assert not any(f.stopped[0] for f in frames[2:])


def test_a_jumping_box_is_rejected_as_an_outlier() -> None:
    kin = Kinematics(SpeedConfig(smoothing_s=0.0), TEN_PX_PER_M)
    ys = 100 + 10.0 * np.arange(30)
    ys[20] += 60  # a merged/occluded box: 6 m off for one frame
    speeds = np.array([f.speed_kmh[0] for f in drive(kin, ys)])
    assert np.nanmax(np.abs(speeds[5:] - 36.0)) < 36.0 * 0.05


def test_impossible_speeds_are_not_reported() -> None:
    kin = Kinematics(SpeedConfig(max_speed_kmh=100.0), TEN_PX_PER_M)
    speeds = [f.speed_kmh[0] for f in drive(kin, 100 + 40.0 * np.arange(10))]  # 144 km/h
    assert np.isnan(speeds).all()


def test_stop_and_go_marks_the_stopped_frames() -> None:
    kin = Kinematics(SpeedConfig(smoothing_s=0.0, window_s=0.5), TEN_PX_PER_M)
    ys = np.concatenate(
        [100 + 10.0 * np.arange(20), np.full(30, 290.0), 290 + 10.0 * np.arange(1, 21)]
    )
    stopped = np.array([f.stopped[0] for f in drive(kin, ys)])
    assert not stopped[3:20].any()
    assert stopped[27:50].all()  # stopped once the window holds only the standstill
    assert not stopped[57:].any()


def test_boxes_touching_the_border_are_not_used() -> None:
    kin = Kinematics(SpeedConfig(smoothing_s=0.0), TEN_PX_PER_M)
    # entering at the bottom edge: the clipped box's bottom is the border, not the car
    ys = np.concatenate([np.full(5, 1000.0), 990 - 10.0 * np.arange(20)])
    speeds = np.array([f.speed_kmh[0] for f in drive(kin, ys)])
    assert np.isnan(speeds[:7]).all()
    np.testing.assert_allclose(speeds[7:], 36.0, rtol=1e-9)


def test_without_a_ground_plane_stops_are_still_detected() -> None:
    kin = Kinematics(SpeedConfig(smoothing_s=0.0))
    ys = np.concatenate([100 + 10.0 * np.arange(15), np.full(20, 240.0)])
    frames = drive(kin, ys)
    assert np.isnan([f.speed_kmh[0] for f in frames]).all()  # no metres, no km/h
    stopped = np.array([f.stopped[0] for f in frames])
    assert not stopped[3:15].any() and stopped[26:].all()


def test_state_is_evicted() -> None:
    kin = Kinematics(SpeedConfig(), TEN_PX_PER_M, forget_after_s=1.0)
    drive(kin, [100.0, 110.0], tracker_id=7)
    assert kin.tracked_state_count == 1
    kin.forget([7])
    assert kin.tracked_state_count == 0
    drive(kin, [100.0], tracker_id=8)
    kin.update(make_detections(np.zeros((0, 4))), frame(100))
    assert kin.tracked_state_count == 0

"""MotionGate: the detector is skipped on frames where nothing moved where it matters
(runtime/motion_gate.py), on colour frames of several sizes."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.runtime.motion_gate import GateConfig, MotionGate


def _road(h: int, w: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.ascontiguousarray(rng.integers(90, 110, (h, w, 3), dtype=np.uint8))


def _with_car(road: np.ndarray, x0: int, y0: int, size: int, bgr=(40, 40, 40)) -> np.ndarray:
    frame = road.copy()
    frame[y0 : y0 + size, x0 : x0 + size] = bgr  # a dark car on a grey road
    return frame


@pytest.mark.parametrize("hw", [(120, 160), (240, 320), (720, 1280)])
def test_still_frames_are_skipped_and_a_moving_car_runs_the_detector(hw) -> None:
    h, w = hw
    gate = MotionGate(GateConfig(keepalive_s=100.0))
    road = _road(h, w)
    runs = [gate.should_run(road, i / 25) for i in range(10)]
    assert runs[0] and not any(runs[1:])  # the first frame always; then a still scene
    size = max(6, w // 20)  # a car a twentieth of the frame wide
    moving = [gate.should_run(_with_car(road, 10 + 4 * i * size // 6, h // 2, size), (10 + i) / 25)
              for i in range(5)]  # fmt: skip
    assert all(moving)
    assert gate.skipped == 9 and gate.frames == 15


def test_keepalive_runs_the_detector_on_a_still_scene() -> None:
    gate = MotionGate(GateConfig(keepalive_s=1.0))
    road = _road(240, 320)
    runs = [gate.should_run(road, i / 10) for i in range(25)]  # 2.4 s at 10 fps
    assert [i for i, r in enumerate(runs) if r] == [0, 10, 20]


def test_motion_away_from_the_lines_is_ignored_with_lines_and_zones() -> None:
    line = np.array([[0.0, 200.0], [320.0, 200.0]])
    gate = MotionGate(GateConfig(regions="lines_and_zones", margin_px=20.0, keepalive_s=100.0),
                      [line])  # fmt: skip
    road = _road(240, 320)
    gate.should_run(road, 0.0)
    far = [gate.should_run(_with_car(road, 20 + 10 * i, 20, 24), (1 + i) / 25) for i in range(4)]
    near = [gate.should_run(_with_car(road, 20 + 10 * i, 190, 24), (5 + i) / 25) for i in range(4)]
    assert not any(far) and all(near)


def test_grey_frames_work_too() -> None:
    gate = MotionGate(GateConfig(keepalive_s=100.0))
    road = _road(240, 320)[..., 0].copy()
    assert gate.should_run(road, 0.0) and not gate.should_run(road, 0.04)
    moved = road.copy()
    moved[100:130, 100:130] = 250
    assert gate.should_run(moved, 0.08)


def test_a_red_car_as_bright_as_the_road_moves_too() -> None:
    """BGR (40, 40, 200) has luma 88 on a road of 90-110: a grey conversion sees almost no
    change; the green channel the gate reads (40 against ~100) does."""
    gate = MotionGate(GateConfig(keepalive_s=100.0))
    road = _road(240, 320)
    gate.should_run(road, 0.0)
    moving = [gate.should_run(_with_car(road, 20 + 12 * i, 100, 16, (40, 40, 200)), (1 + i) / 25)
              for i in range(4)]  # fmt: skip
    assert all(moving)

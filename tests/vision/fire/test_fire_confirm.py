"""Scene-aware confirmation with constructed detections (no detector involved)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections

from carbonedge.runtime.base.types import Frame
from carbonedge.vision.fire import FireMonitor, FireMonitorConfig
from carbonedge.vision.fire.scene import estimate_horizon

SMOKE, FIRE = 0, 1
HORIZON_Y = 200  # sky above, terrain below in ``scene_image``


def scene_image(h: int = 480, w: int = 640) -> np.ndarray:
    """Smooth blue sky over textured brown terrain, horizon at row 200."""
    rng = np.random.default_rng(0)
    image = np.empty((h, w, 3), np.uint8)
    image[:HORIZON_Y] = (220, 170, 120)  # BGR sky
    terrain = rng.integers(40, 140, (h - HORIZON_Y, w // 4), dtype=np.uint8)
    terrain = np.repeat(terrain, 4, axis=1)
    image[HORIZON_Y:] = np.stack([terrain // 2, terrain, terrain], axis=2)
    return image


IMAGE = scene_image()


def frame(i: int, dt_s: float = 60.0) -> Frame:
    return Frame("tower", i, i * dt_s, 1_767_254_400.0 + i * dt_s, IMAGE, 1.0 / dt_s)


def run(monitor: FireMonitor, boxes_per_frame: list[list[list[float]]], cls: int = SMOKE):
    events = []
    for i, boxes in enumerate(boxes_per_frame):
        dets = make_detections(boxes, 0.8, cls) if boxes else make_detections(np.zeros((0, 4)))
        events += [(i, e) for e in monitor.confirm(frame(i), dets)]
    return events


def growing_plume(n: int, x: float = 300.0, base_y: float = 330.0) -> list[list[list[float]]]:
    """A plume rising from the terrain: bottom fixed, 6 px wider and 12 px taller each frame."""
    return [[[x - 4 - 3 * k, base_y - 8 - 12 * k, x + 4 + 3 * k, base_y]] for k in range(n)]


def test_horizon_is_found() -> None:
    horizon = estimate_horizon(IMAGE)
    assert np.all((horizon >= HORIZON_Y - 6) & (horizon <= HORIZON_Y))  # errs toward terrain


def test_steady_smoke_growing_from_the_ground_alarms_once() -> None:
    events = run(FireMonitor(FireMonitorConfig(), "box-1"), growing_plume(10))
    statuses = [(i, e.status) for i, e in events]
    assert statuses[0] == (2, "start")  # 3 votes in the window, 120 s old, grew
    assert [s for _, s in statuses[1:]] == ["update"] * (len(statuses) - 1)
    start = events[0][1]
    assert start.classes == ("smoke",) and start.boxes[0].class_name == "smoke"
    assert {e.alarm_id for _, e in events} == {start.alarm_id}
    assert len({e.id for _, e in events}) == len(events)


def test_cloud_drifting_through_the_sky_never_alarms() -> None:
    # grows and moves, but its bottom stays far above the horizon
    cloud = [[[100 + 20 * k, 60 - 2 * k, 160 + 30 * k, 110 + 2 * k]] for k in range(12)]
    assert run(FireMonitor(FireMonitorConfig(), "box-1"), cloud) == []


def test_one_frame_blip_never_alarms() -> None:
    blip = [[] for _ in range(10)]
    blip[4] = [[300, 300, 340, 330]]
    assert run(FireMonitor(FireMonitorConfig(), "box-1"), blip) == []


def test_steady_object_that_does_not_grow_never_alarms() -> None:
    still = [[[300, 300, 340, 330]] for _ in range(12)]  # a chimney plume, a bright roof
    assert run(FireMonitor(FireMonitorConfig(), "box-1"), still) == []


def test_plume_that_persists_after_the_fire_is_out_stays_one_alarm() -> None:
    cfg = FireMonitorConfig(confirm={"end_after_s": 300, "update_interval_s": 120,
                                     "cooldown_s": 1800})  # fmt: skip
    plume = growing_plume(5)
    plume += [plume[-1]] * 15  # the fire is out, the plume hangs there for 15 minutes
    plume += [[] for _ in range(6)]  # then it is gone: the alarm ends after 300 s
    plume += growing_plume(5, x=420)  # a new growing plume within the cooldown: no new alarm
    events = run(FireMonitor(cfg, "box-1"), plume)
    statuses = [e.status for _, e in events]
    assert statuses.count("start") == 1 and statuses.count("end") == 1
    assert statuses[-1] == "end"
    update_frames = [i for i, e in events if e.status == "update"]
    assert all(
        b - a >= 2 for a, b in zip(update_frames, update_frames[1:], strict=False)
    )  # rate-limited
    end_frame = next(i for i, e in events if e.status == "end")
    assert end_frame == 19 + 5  # last seen at frame 19, ends 300 s (5 frames) later
    assert events[-1][1].boxes == ()


def test_new_alarm_after_the_cooldown() -> None:
    cfg = FireMonitorConfig(confirm={"end_after_s": 120, "cooldown_s": 300})
    frames = growing_plume(4) + [[] for _ in range(8)] + growing_plume(4, x=420)
    statuses = [e.status for _, e in run(FireMonitor(cfg, "box-1"), frames)]
    assert statuses.count("start") == 2 and statuses.count("end") == 1


def test_exclusion_mask_drops_candidates(tmp_path) -> None:
    import cv2

    mask = np.zeros(IMAGE.shape[:2], np.uint8)
    mask[250:480, 200:400] = 255  # the plume's area: a chimney the technician masked
    cv2.imwrite(str(tmp_path / "mask.png"), mask)
    cfg = FireMonitorConfig(scene={"exclusion_mask_paths": [str(tmp_path / "mask.png")]})
    assert run(FireMonitor(cfg, "box-1"), growing_plume(10)) == []


def test_technician_sky_mask_overrides_the_estimate(tmp_path) -> None:
    import cv2

    sky = np.zeros(IMAGE.shape[:2], np.uint8)
    sky[:400] = 255  # the technician says everything above row 400 is sky
    cv2.imwrite(str(tmp_path / "sky.png"), sky)
    cfg = FireMonitorConfig(scene={"sky_mask_path": str(tmp_path / "sky.png")})
    assert run(FireMonitor(cfg, "box-1"), growing_plume(10)) == []  # base at 330: in the sky


@pytest.mark.parametrize(("dt_s", "first"), [(0.04, 50), (60.0, 2)])
def test_flames_need_seconds_at_video_rate_and_growth_at_tower_cadence(dt_s, first) -> None:
    monitor = FireMonitor(FireMonitorConfig(), "box-1")
    events = []
    for i in range(60):
        k = i if dt_s > 1 else 0  # at video rate a steady flame; at tower cadence it spreads
        dets = make_detections([[300 - 3 * k, 320 - 6 * k, 310 + 3 * k, 330]], 0.9, FIRE)
        events += [(i, e) for e in monitor.confirm(frame(i, dt_s), dets)]
    assert events[0][0] == first and events[0][1].classes == ("fire",)


def test_bearing_from_azimuth_calibration() -> None:
    cfg = FireMonitorConfig(scene={"azimuth_center_deg": 90.0, "hfov_deg": 100.0})
    events = run(FireMonitor(cfg, "box-1"), growing_plume(4, x=160))
    # box centre x = 160 of 640: 90 + (0.25 - 0.5) * 100 = 65 degrees
    assert events[0][1].bearing_deg == pytest.approx(65.0, abs=0.5)

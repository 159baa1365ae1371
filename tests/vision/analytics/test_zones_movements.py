"""Zones (occupancy, queue, dwell, idle) and turning movements on constructed tracks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import make_detections
from pydantic import ValidationError

from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.analytics.kinematics import Kinematics, SpeedConfig
from carbonedge.vision.analytics.movements import MovementCounter
from carbonedge.vision.analytics.zones import ZoneConfig, ZoneSet, points_in_polygon

FPS = 10.0
IMAGE = np.zeros((400, 400, 3), np.uint8)
CLASSES = ("car", "truck")


def frame(i: int) -> Frame:
    return Frame("cam", i, i / FPS, 1_767_254_400.0 + i / FPS, IMAGE, FPS)


def tracked(
    anchors: dict[int, tuple[float, float]], cls: dict[int, int] | None = None
) -> Detections:
    """Rows for tracker id -> bottom-centre anchor (20 x 20 px boxes)."""
    if not anchors:
        return Detections.empty()
    ids = np.array(list(anchors), np.int64)
    xy = np.array(list(anchors.values()), np.float32)
    boxes = np.column_stack([xy[:, 0] - 10, xy[:, 1] - 20, xy[:, 0] + 10, xy[:, 1]])
    classes = np.array([(cls or {}).get(int(i), 0) for i in ids], np.int32)
    return make_detections(boxes, class_id=classes, tracker_id=ids)


def test_points_in_polygon_matches_opencv() -> None:
    rng = np.random.default_rng(0)
    poly = np.array([[10, 10], [300, 40], [250, 300], [120, 200], [30, 280]], np.float64)
    pts = rng.uniform(0, 320, (2000, 2))
    ours = points_in_polygon(pts, poly)
    contour = poly.astype(np.float32).reshape(-1, 1, 2)
    ref = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in pts])
    clear = np.abs(ref) > 1e-6  # points exactly on an edge may go either way
    np.testing.assert_array_equal(ours[clear], ref[clear] > 0)


def run_zone(paths: dict[int, list], zones: list[ZoneConfig], frames: int):
    """Drive tracks (id -> per-frame anchor or None) through kinematics and a ZoneSet."""
    zs = ZoneSet(zones)
    kin = Kinematics(SpeedConfig(smoothing_s=0.0, window_s=0.5))
    for i in range(frames):
        anchors = {t: p[i] for t, p in paths.items() if i < len(p) and p[i] is not None}
        dets = tracked(anchors)
        k = kin.update(dets, frame(i))
        zs.update(dets, zs.membership(dets), k.stopped, k.step_s, frame(i).t_mono_s)
    return zs


QUEUE = ZoneConfig(id="stopline", polygon_px=((100, 100), (300, 100), (300, 300), (100, 300)))


def test_queue_dwell_and_idle_of_two_stopping_cars() -> None:
    """Car 1 drives in, waits 5 s at the stop line, leaves; car 2 queues behind it for 4 s."""

    def path(stop_y: float, wait_frames: int) -> list:
        approach = [(200.0, 50.0 + 10 * k) for k in range(int((stop_y - 50) / 10) + 1)]
        wait = [(200.0, stop_y)] * wait_frames
        leave = [(200.0, stop_y + 10 * k) for k in range(1, 40)]
        return approach + wait + leave

    p1 = path(250.0, 50)
    p2 = [None] * 10 + path(200.0, 55)
    zs = run_zone({1: p1, 2: p2}, [QUEUE], 130)
    stats = zs.close_interval()["stopline"]
    assert stats["entered"] == 2 and stats["left"] == 2
    assert stats["queue_max"] == 2
    assert stats["occupancy_max"] == 2
    # car 1 is inside (anchor y > 100) from frame 6 to frame 76: 7.0 s; car 2 from 16 to 91: 7.5 s
    assert (stats["dwell_s_mean"], stats["dwell_s_max"]) == (pytest.approx(7.25, abs=0.051), 7.5)
    # they stand still 5.0 s and 5.5 s; a stop is recognised once the 0.5 s window holds only it
    assert stats["idle_s_mean"] == pytest.approx(5.25, abs=0.5)
    assert stats["idle_vehicle_s"] == pytest.approx(10.5, abs=1.0)
    # the next interval starts empty
    assert zs.close_interval()["stopline"]["entered"] == 0


def test_a_track_that_ends_inside_still_reports_its_visit() -> None:
    zs = run_zone({1: [(200.0, 150.0)] * 20}, [QUEUE], 20)
    zs.forget([1])
    stats = zs.close_interval()["stopline"]
    assert stats["left"] == 1 and stats["dwell_s_max"] == pytest.approx(1.9, abs=0.01)
    assert zs.tracked_state_count == 0


def test_zone_config_errors() -> None:
    with pytest.raises(ValidationError, match="at least 3"):
        ZoneConfig(id="z", polygon_px=((0, 0), (1, 1)))
    with pytest.raises(ValidationError, match="entry"):
        ZoneConfig(id="z", polygon_px=((0, 0), (1, 1), (0, 1)), movement="sideways")


ZONES = [
    ZoneConfig(
        id="south", polygon_px=((150, 350), (250, 350), (250, 400), (150, 400)), movement="entry"
    ),
    ZoneConfig(id="north", polygon_px=((150, 0), (250, 0), (250, 50), (150, 50)), movement="exit"),
    ZoneConfig(
        id="east", polygon_px=((350, 150), (400, 150), (400, 250), (350, 250)), movement="both"
    ),
]


def test_origin_destination_matrix() -> None:
    mc = MovementCounter(ZONES, CLASSES)
    straight = [(200.0, 390.0 - 10 * k) for k in range(38)]  # south -> north
    right = [(200.0 + 5 * k, 390.0 - 5 * k) for k in range(38)]  # south -> east
    back = [(200.0, 390.0 - 5 * k) for k in range(10)] + [(200.0, 340.0 + 5 * k) for k in range(10)]
    from_east = [(390.0 - 5 * k, 200.0 - 5 * k) for k in range(38)]  # east -> north
    paths = {1: straight, 2: right, 3: back, 4: from_east}
    cls = {1: 0, 2: 1, 3: 0, 4: 0}
    for i in range(40):
        anchors = {t: p[i] for t, p in paths.items() if i < len(p)}
        dets = tracked(anchors, cls)
        mc.update(dets, ZoneSet(ZONES).membership(dets), frame(i).t_mono_s)
    assert mc.close_interval() == {"counts": {}, "incomplete": {}}  # nothing ended yet
    mc.forget([1, 2, 3, 4])
    out = mc.close_interval()
    assert out["counts"] == {
        "south->north": {"car": 1},
        "south->east": {"truck": 1},
        "east->north": {"car": 1},
    }
    assert out["incomplete"] == {"south": 1}
    assert mc.tracked_state_count == 0


def test_movements_need_entries_and_exits() -> None:
    assert not MovementCounter([QUEUE], CLASSES).enabled
    assert MovementCounter(ZONES, CLASSES).enabled

"""Riders: a tracked pedestrian at vehicle speed (or squat and faster than a walk) becomes a
two-wheeler; scripted scenes through the real ByteTrack (vision/riders.py, stage "riders")."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections

from carbonedge.vision.riders import RiderSpeeds
from carbonedge.vision.taxonomy import ROAD_V1
from carbonedge.vision.tracking.bytetrack import ByteTrack, ByteTrackConfig

PED, MOTO, CAR = (ROAD_V1.index(n) for n in ("pedestrian", "motorcycle", "car"))
FPS = 25.0


def _scene(speed_heights_per_s: float, w_px: float, h_px: float = 40.0, frames: int = 40):
    """One pedestrian box moving right at ``speed_heights_per_s``, plus a parked car; yields
    (t_s, detections) frame by frame."""
    for i in range(frames):
        x = 20.0 + i * speed_heights_per_s * h_px / FPS
        yield i / FPS, make_detections(
            [[x, 100, x + w_px, 100 + h_px], [400, 80, 480, 140]],
            confidence=0.8, class_id=[PED, CAR],
        )  # fmt: skip


def _classes_over_run(speed: float, w_px: float) -> list[int]:
    tracker, riders = ByteTrack(ByteTrackConfig(), fps=FPS), RiderSpeeds(PED, MOTO)
    out = []
    for t, d in _scene(speed, w_px):
        tracked = riders(tracker.update(d), t)
        out.append(int(tracked.class_id[tracked.xyxy[:, 0] < 400][0]) if len(tracked) else -1)
        assert (tracked.class_id[tracked.xyxy[:, 0] >= 400] == CAR).all()  # cars untouched
    return out


@pytest.mark.parametrize(
    ("speed", "w_px", "rider"),
    [
        (3.0, 14.0, True),  # a walker-shaped box at cyclist speed: a rider
        (0.8, 14.0, False),  # walking pace, walker shape (h/w 2.9)
        (1.25, 14.0, False),  # the fastest walkers measured, walker shape
        (2.0, 14.0, False),  # a jog, walker shape: below 2.5 heights/s
        (1.6, 36.0, True),  # squat (h/w 1.1) and faster than a walk: a rider in a queue
        (1.0, 36.0, False),  # squat but at walking pace (a group of two, a pram)
    ],
)
def test_fast_or_squat_and_quick_pedestrian_tracks_become_two_wheelers(speed, w_px, rider) -> None:
    classes = [c for c in _classes_over_run(speed, w_px) if c >= 0]
    assert classes, "the tracker never confirmed the track"
    if rider:
        assert classes[-1] == MOTO and classes[0] == PED  # decided after 0.8 s, then for good
        first = classes.index(MOTO)
        assert all(c == MOTO for c in classes[first:])
    else:
        assert set(classes) == {PED}


def test_short_spans_are_not_judged_and_forget_drops_the_state() -> None:
    riders = RiderSpeeds(PED, MOTO)
    jump = make_detections([[0, 0, 14, 40]], class_id=PED, tracker_id=np.array([7]))
    riders(jump, 0.0)
    far = make_detections([[200, 0, 214, 40]], class_id=PED, tracker_id=np.array([7]))
    assert riders(far, 0.2).class_id[0] == PED  # 200 px in 0.2 s: an id switch, not a rider
    assert riders.measures(7) is not None
    riders.forget([7])
    assert riders.measures(7) is None and not riders._riders


def test_state_is_capped_for_a_box_that_runs_for_months() -> None:
    riders = RiderSpeeds(PED, MOTO, max_tracks=16)
    for tid in range(100):
        riders(make_detections([[0, 0, 14, 40]], class_id=PED, tracker_id=np.array([tid])), 0.0)
    assert len(riders._tracks) == 16


def test_a_rider_track_stays_a_rider_on_frames_without_any_pedestrian_row() -> None:
    """Frames with no pedestrian rows skip the per-row work, but a known rider's rows (here
    labelled car by the detector for a frame) are still relabelled; frames with neither are
    returned untouched."""
    riders = RiderSpeeds(PED, MOTO)
    for i in range(25):  # 3 heights/s for 1 s: a rider
        x = 3.0 * 40.0 * i / FPS
        riders(make_detections([[x, 0, x + 14, 40]], class_id=PED, tracker_id=np.array([5])),
               i / FPS)  # fmt: skip
    assert 5 in riders._riders
    later = make_detections([[200, 0, 214, 40], [400, 0, 480, 60]], class_id=[CAR, CAR],
                            tracker_id=np.array([5, 6]))  # fmt: skip
    assert riders(later, 1.1).class_id.tolist() == [MOTO, CAR]
    riders.forget([5])
    cars = make_detections([[400, 0, 480, 60]], class_id=CAR, tracker_id=np.array([6]))
    assert riders(cars, 1.2) is cars and cars.class_id.tolist() == [CAR]


def _flow_scene(walker_dx: float, walker_dy: float, walker_y: float):
    """Cars driving right along a lane at y 100-140 for 2 s (the flow), then an upright walker
    box (h/w 2.9) moving (walker_dx, walker_dy) px per frame from (60, walker_y)."""
    for i in range(100):
        rows, classes = [], []
        for lane_x in (10.0, 150.0):  # two cars a lane apart in time, 2 heights/s
            x = (lane_x + i * 3.2) % 600
            rows.append([x, 100, x + 60, 140])
            classes.append(CAR)
        if i >= 50:
            x, y = 60.0 + (i - 50) * walker_dx, walker_y + (i - 50) * walker_dy
            rows.append([x, y - 40, x + 14, y])
            classes.append(PED)
        yield i / FPS, make_detections(rows, confidence=0.8, class_id=classes)


def _walker_classes(tracked) -> set[int]:
    narrow = tracked.xyxy[:, 2] - tracked.xyxy[:, 0] < 20  # the walker's box, not the cars'
    return {int(c) for c in tracked.class_id[narrow]}


@pytest.mark.parametrize(
    ("dx", "dy", "y", "rider"),
    [
        (1.2, 0.0, 138.0, True),  # 0.75 heights/s along the lane, on it: a rider in a queue
        (0.0, 1.2, 80.0, False),  # the same pace across the lane: a walker on a crossing
        (1.2, 0.0, 330.0, False),  # along the road but where no car drove: the pavement
        (0.3, 0.0, 138.0, False),  # along the lane but standing still (0.19 heights/s)
    ],
)
def test_a_walker_shaped_track_moving_with_the_traffic_is_a_rider(dx, dy, y, rider) -> None:
    tracker = ByteTrack(ByteTrackConfig(), fps=FPS)
    riders = RiderSpeeds(PED, MOTO, vehicles=(CAR,))
    seen = set()
    for t, d in _flow_scene(dx, dy, y):
        tracked = riders(tracker.update(d), t, (360, 640))
        seen.update(_walker_classes(tracked))
    assert seen == ({PED, MOTO} if rider else {PED})


def test_no_flow_rule_without_the_picture_size_or_when_off() -> None:
    for frame_hw, speed in (((360, 640), None), (None, 0.5)):
        tracker = ByteTrack(ByteTrackConfig(), fps=FPS)
        riders = RiderSpeeds(PED, MOTO, vehicles=(CAR,), flow_speed_heights_per_s=speed)
        seen = set()
        for t, d in _flow_scene(1.2, 0.0, 138.0):
            tracked = riders(tracker.update(d), t, frame_hw)
            seen.update(_walker_classes(tracked))
        assert seen == {PED}

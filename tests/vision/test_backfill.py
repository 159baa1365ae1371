"""Track backfill: a road user detected only weakly before its track is confirmed still counts
on a line it crossed then, once; an identity switch past the line is not counted twice.

The scenes run through the real "track" and "analytics" stages (ByteTrack, backfill, line
counter) as the pipeline builds them."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections, make_frame

from carbonedge.runtime.base.stage import StageContext
from carbonedge.runtime.base.types import Detections, Packet
from carbonedge.runtime.pipeline import CameraPlan
from carbonedge.runtime.stages import build_stages
from carbonedge.vision.counting import LineConfig
from carbonedge.vision.tracking import ByteTrackConfig
from carbonedge.vision.tracking.backfill import Backfill

FPS = 25.0
W, H = 320, 240
LINE = LineConfig(id="l", start_px=(0, 120), end_px=(W, 120))


class _Labels:
    class_names = ("car", "truck", "bus")


def run(frames: list[list[tuple]], backfill_s: float) -> list:
    """``frames``: per frame, (x1, y1, x2, y2, score) car boxes. Returns the final crossings."""
    camera = CameraPlan(lines=[LINE], tracker=ByteTrackConfig(backfill_s=backfill_s),
                        road_classes=None)  # type: ignore[arg-type]  # fmt: skip
    context = StageContext(device_id="box", camera_id="cam", fps=FPS,
                           services={"detector": _Labels()})  # fmt: skip
    stages = build_stages(camera, context, ("track", "analytics"))
    for stage in stages:
        stage.start(context)
    events: list = []
    image = np.zeros((H, W, 3), np.uint8)
    for k, boxes in enumerate(frames + [[]] * 40):
        dets = Detections.empty()
        if boxes:
            arr = np.asarray(boxes, np.float32)
            dets = make_detections(arr[:, :4], confidence=arr[:, 4], class_id=np.zeros(len(arr)))
        packet = Packet(make_frame(image, index=k, fps=FPS), dets)
        for stage in stages:
            packet = stage.process(packet)
        events += packet.events
        for stage in stages:
            events += stage.forget(packet.ended_track_ids) or []
    events += stages[1].analytics.close_interval().events
    return events


def car(y_bottom: float, score: float, x: float = 160, w: float = 16, h: float = 12) -> tuple:
    return (x - w / 2, y_bottom - h, x + w / 2, y_bottom, score)


def weak_then_strong(cross_frame: int = 8) -> list[list[tuple]]:
    """A car moving down 3 px/frame; below the new-track score (0.2) until 4 frames after it
    crossed y=120, then 0.7: its track is born past the line."""
    frames = []
    for k in range(40):
        y = 120 + 3 * (k - cross_frame)
        frames.append([car(y, 0.2 if k < cross_frame + 4 else 0.7)])
    return frames


def test_a_track_born_past_the_line_counts_with_backfill() -> None:
    events = run(weak_then_strong(), backfill_s=0.8)
    assert [(e.line_id, e.direction) for e in events] == [("l", "in")]


def test_without_backfill_it_is_lost() -> None:
    assert run(weak_then_strong(), backfill_s=0.0) == []


def test_backfill_reaches_back_only_its_window() -> None:
    """Weak for 30 frames (1.2 s) past the line: 0.4 s of backfill starts past the line."""
    frames = []
    for k in range(50):
        y = 120 + 3 * (k - 5)
        frames.append([car(y, 0.2 if k < 35 else 0.7)])
    assert run(frames, backfill_s=0.4) == []
    assert len(run(frames, backfill_s=2.0)) == 1


def test_an_identity_switch_past_the_line_counts_once() -> None:
    """Tracked and counted across the line, then gone for 1.6 s (its track is removed), seen
    again further on, weak at first, as a new track: counted once."""
    frames = [[car(90 + 2 * k, 0.7)] if k < 20 else [] for k in range(60)]
    frames += [[car(90 + 2 * k, 0.2 if k < 65 else 0.7)] for k in range(60, 70)]
    events = run(frames, backfill_s=0.8)
    assert [(e.line_id, e.direction) for e in events] == [("l", "in")]


def test_boxes_a_confirmed_track_took_are_not_stored() -> None:
    fill = Backfill(window_frames=10)
    box = np.array([[100, 100, 120, 110]], np.float32)
    for k in range(3):  # a confirmed track (id 3) takes the only box of each frame
        taken = make_detections(box + [0, 5 * k, 0, 5 * k], tracker_id=np.array([3]))
        fill.update(k, taken, taken, np.array([0]))
    new = make_detections(box + [0, 15, 0, 15], tracker_id=np.array([9]))
    assert fill.update(3, new, new, np.array([0])) == {}


def test_a_second_box_inside_a_tracked_vehicle_is_not_its_past() -> None:
    """A bus (tracked, counted) carries a small weak box on its front (a COCO "car" on the
    bonnet) that turns strong past the line: that box's track does not count the bus again."""
    frames = []
    for k in range(40):
        y = 100 + 3 * k  # the bus's bottom crosses y=120 at frame 7
        bus = (100.0, y - 60, 200.0, y, 0.9)
        front = car(y - 5, 0.2 if k < 20 else 0.7, x=150, w=30, h=20)
        frames.append([bus, front])
    events = run(frames, backfill_s=0.8)
    assert len(events) == 1


def test_a_loose_box_around_a_tracked_vehicle_is_not_a_new_tracks_past() -> None:
    """A lorry (tracked, id 3) with a weak loose box around it (3x the area of the lorry's second
    box, the box body under its own label, that is confirmed as a track of its own at frame 3):
    the second box's chain does not go on through the loose box; without the lorry's track in
    it the same loose box is the chain's past."""
    lorry = np.array([[100, 118, 130, 140]], np.float32)
    loose = np.array([[95, 95, 135, 140]], np.float32)  # holds the lorry; IoU 0.33 with `body`
    body = np.array([[100, 100, 130, 120]], np.float32)

    def chain(lorry_tracked: bool) -> dict:
        fill = Backfill(window_frames=10)
        for k in range(3):
            if lorry_tracked:
                dets = make_detections(np.vstack([lorry, loose]))
                taken = make_detections(lorry, tracker_id=np.array([3]))
                fill.update(k, dets, taken, np.array([0]))
            else:
                fill.update(k, make_detections(loose), Detections.empty(), np.zeros(0, np.int64))
        new = make_detections(body, tracker_id=np.array([9]))
        return fill.update(3, new, new, np.array([0]))

    assert chain(lorry_tracked=True) == {}
    np.testing.assert_array_equal(chain(lorry_tracked=False)[9], loose[0])


def test_a_parked_car_past_the_line_does_not_count() -> None:
    frames = [[car(150, 0.2 if k < 20 else 0.7)] for k in range(40)]
    assert run(frames, backfill_s=0.8) == []


def test_each_stored_box_serves_one_chain() -> None:
    fill = Backfill(window_frames=10)
    empty = Detections.empty()
    box = np.array([[100, 100, 120, 110]], np.float32)
    for k in range(3):  # one weak box per frame, nobody takes it
        fill.update(k, make_detections(box + [0, 5 * k, 0, 5 * k]), empty, np.zeros(0, np.int64))
    now = make_detections(box + [0, 15, 0, 15], tracker_id=np.array([7]))
    twin = make_detections(box + [0, 15, 0, 15], tracker_id=np.array([8]))
    first = fill.update(3, now, now, np.array([0]))
    np.testing.assert_array_equal(first[7], box[0])  # back to frame 0
    assert fill.update(4, twin, twin, np.array([0])) == {}  # frames 0-2 are taken
    assert fill.update(5, now, now, np.array([0])) == {}  # id 7 was seen already


def test_frame_numbers_that_restart_end_the_chain() -> None:
    """A source that reconnects numbers its frames from 0 again: no chain into the old ones."""
    fill = Backfill(window_frames=10)
    empty = Detections.empty()
    box = np.array([[100, 100, 120, 110]], np.float32)
    for k in (7, 8, 9):
        fill.update(k, make_detections(box), empty, np.zeros(0, np.int64))
    new = make_detections(box, tracker_id=np.array([4]))
    assert fill.update(0, new, new, np.array([0])) == {}


def test_window_must_hold_a_frame() -> None:
    with pytest.raises(ValueError, match="window_frames must be >= 1"):
        Backfill(window_frames=0)

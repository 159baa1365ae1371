"""Line counter: directions, hysteresis, segment extent, once per track, eviction."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections, make_frame
from pydantic import ValidationError

from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.base.types import Detections
from carbonedge.vision.counting import LineConfig, LineCounter

CLASSES = ("person", "bicycle", "car", "motorcycle")
FPS = 30.0  # the line counter forgets idle tracks by time: frames carry t_mono_s = index / FPS


def make_tracked(ids, anchors_xy, cls=2) -> Detections:
    """Tracked rows whose bottom-centre anchors are ``anchors_xy`` (20 x 30 px boxes)."""
    xy = np.asarray(anchors_xy, np.float32).reshape(-1, 2)
    boxes = np.column_stack([xy[:, 0] - 10, xy[:, 1] - 30, xy[:, 0] + 10, xy[:, 1]])
    return make_detections(
        boxes, class_id=cls, tracker_id=np.asarray(ids, np.int64).reshape(len(xy))
    )


def make_counter(start=(0.0, 100.0), end=(200.0, 100.0), **kw) -> LineCounter:
    config = LineConfig(id="gate", start_px=start, end_px=end, **kw)
    return LineCounter(config, device_id="box1", source_id="cam", class_names=CLASSES)


def run_path(
    counter: LineCounter, path_xy, tracker_id: int = 1, cls=2, first_frame: int = 0, stay: int = 3
):
    """Feed one track along ``path_xy``, then ``stay`` frames more at its last point (a track
    output on fewer than ``MIN_TRACK_FRAMES`` frames never counts); return every event (pending
    ones made final at the end)."""
    events = []
    for k, xy in enumerate(list(path_xy) + [path_xy[-1]] * stay):
        events += counter.update(
            make_tracked([tracker_id], [xy], cls), make_frame(index=first_frame + k, fps=FPS)
        )
    return events + counter.flush()


def straight(p0, p1, steps: int = 20):
    return [tuple(p) for p in np.linspace(p0, p1, steps)]


@pytest.mark.parametrize(
    ("start", "end", "p0", "p1", "direction"),
    [
        ((0, 100), (200, 100), (50, 60), (50, 140), "in"),  # left-to-right line: down is in
        ((0, 100), (200, 100), (50, 140), (50, 60), "out"),
        ((200, 100), (0, 100), (50, 60), (50, 140), "out"),  # reversed line swaps directions
        (
            (100, 0),
            (100, 200),
            (140, 50),
            (60, 50),
            "in",
        ),  # top-to-bottom line: right-to-left is in
        ((100, 0), (100, 200), (60, 50), (140, 50), "out"),
        ((0, 0), (200, 200), (150, 40), (40, 150), "in"),  # diagonal
    ],
)
def test_direction(start, end, p0, p1, direction: str) -> None:
    counter = make_counter(start, end)
    events = run_path(counter, straight(p0, p1))
    assert len(events) == 1
    ev = events[0]
    assert isinstance(ev, LineCrossed)
    assert (ev.direction, ev.class_name, ev.tracker_id, ev.line_id) == (direction, "car", 1, "gate")
    assert (ev.device_id, ev.source_id) == ("box1", "cam")
    other = "out" if direction == "in" else "in"
    assert counter.counts == {direction: {"car": 1}, other: {}}


def test_event_fields_and_frame() -> None:
    counter = make_counter()
    events = run_path(counter, [(50, 90), (50, 95), (50, 110)], first_frame=100)
    assert len(events) == 1
    assert events[0].frame_index == 102
    assert events[0].t_wall_s == pytest.approx(make_frame(index=102, fps=FPS).t_wall_s)
    assert events[0].id  # stable id is filled in


def test_jitter_inside_hysteresis_never_counts() -> None:
    counter = make_counter(hysteresis_px=2.0)
    path = [(50, 100 + 1.5 * (-1) ** k) for k in range(50)]
    assert run_path(counter, path) == []


def test_jitter_across_the_line_counts_once() -> None:
    counter = make_counter(hysteresis_px=2.0)
    path = [(50, 90), (50, 95)] + [(50, 100 + 5 * (-1) ** k) for k in range(40)] + [(50, 130)]
    events = run_path(counter, path)
    assert [e.direction for e in events] == ["in"]
    assert counter.counts == {"in": {"car": 1}, "out": {}}


def test_stop_on_the_line_then_go_counts_once() -> None:
    counter = make_counter(hysteresis_px=3.0)
    path = (
        straight((50, 70), (50, 99), 10) + [(50, 100.5)] * 30 + straight((50, 101), (50, 140), 10)
    )
    events = run_path(counter, path)
    assert [e.direction for e in events] == ["in"]
    # ...and turning back afterwards does not count again
    assert run_path(counter, straight((50, 140), (50, 60), 10), first_frame=50) == []


def test_box_jumping_over_the_line_and_back_is_not_a_crossing() -> None:
    """A queued vehicle whose box grows over the line for a few frames and shrinks back (an
    occluder merged into its box): back on its old side when the crossing becomes final."""
    counter = make_counter(hysteresis_px=2.0, class_vote_s=1.0)
    path = [(50, 95)] * 10 + [(50, 108)] * 5 + [(50, 95)] * 60
    assert run_path(counter, path) == []
    assert counter.counts == {"in": {}, "out": {}}


def test_a_dropped_jump_does_not_stop_the_real_crossing_later() -> None:
    counter = make_counter(hysteresis_px=2.0, class_vote_s=1.0)
    path = [(50, 95)] * 10 + [(50, 108)] * 5 + [(50, 95)] * 40 + straight((50, 95), (50, 140))
    events = run_path(counter, path)
    assert [(e.direction, e.frame_index) for e in events] == [("in", 58)]  # 102 px: past the band


def test_track_ending_back_on_its_old_side_does_not_count() -> None:
    counter = make_counter(hysteresis_px=2.0)
    path = [95, 95, 108, 108] + [95] * 16  # back for 16 frames (0.5 s at 30 fps)
    for k, y in enumerate(path):
        assert counter.update(make_tracked([7], [(50, y)]), make_frame(index=k, fps=FPS)) == []
    assert counter.forget([7]) == []


def test_a_crossing_whose_last_box_jitters_back_still_counts() -> None:
    """A vehicle that crossed and left: its track's last box pulled back over the line for a
    moment (the frame edge, an occluder) is not a return."""
    counter = make_counter(hysteresis_px=2.0)
    path = [90, 95, 104, 108, 112, 108, 96, 97]  # back for 2 frames, then the track ends
    for k, y in enumerate(path):
        assert counter.update(make_tracked([7], [(50, y)]), make_frame(index=k, fps=FPS)) == []
    assert [e.direction for e in counter.forget([7])] == ["in"]


def _two_boxes(counter, second_xyxy_at, lag_frames: int):
    """Track 1, a 40x60 box, drives down across the line (y = 100); track 2's box is
    ``second_xyxy_at(y)`` for track 1's bottom y, from ``lag_frames`` later. Every event, final."""
    events = []
    ys = np.linspace(70, 180, 46)  # 2.4 px a frame
    for k, y in enumerate(ys):
        boxes, ids = [[30, y - 60, 70, y]], [1]
        if k >= lag_frames:
            boxes.append(second_xyxy_at(ys[k - lag_frames])), ids.append(2)
        tracked = make_detections(np.array(boxes, np.float32), class_id=2,
                                  tracker_id=np.array(ids, np.int64))  # fmt: skip
        events += counter.update(tracked, make_frame(index=k, fps=FPS))
    return events + counter.flush()


def test_second_box_on_a_vehicle_that_just_crossed_is_not_counted() -> None:
    """A lorry's "truck" box (track 1) and a "van" box inside it (track 2) 3 frames behind."""
    events = _two_boxes(make_counter(), lambda y: [35, y - 40, 65, y - 2], lag_frames=3)
    assert [e.tracker_id for e in events] == [1]


@pytest.mark.parametrize(
    ("box_at", "lag_frames", "why"),
    [
        (lambda y: [80, y - 60, 120, y], 0, "side by side, no overlap"),
        # a small box riding high inside track 1's: its bottom reaches the line 15 frames
        # (0.5 s) after track 1's, while it still lies wholly inside track 1's box
        (lambda y: [35, y - 52, 65, y - 36], 0, "inside, but crossing 0.5 s later"),
        (lambda y: [55, y - 60, 95, y], 1, "overlapping by 3/8 of the smaller box"),
    ],
)
def test_two_vehicles_crossing_close_together_both_count(box_at, lag_frames, why) -> None:
    events = _two_boxes(make_counter(), box_at, lag_frames)
    assert sorted(e.tracker_id for e in events) == [1, 2], why


def test_hysteresis_band_delays_the_count() -> None:
    counter = make_counter(hysteresis_px=5.0)
    assert run_path(counter, [(50, 80), (50, 97), (50, 103)]) == []
    assert len(run_path(counter, [(50, 106)], first_frame=3)) == 1


@pytest.mark.parametrize(
    ("x_cross", "counted"),
    [
        (100.0, True),
        (0.0, True),
        (-3.0, True),
        (203.0, True),
        (210.0, False),
        (-10.0, False),
        (400.0, False),
    ],
)
def test_segment_extent(x_cross: float, counted: bool) -> None:
    counter = make_counter(end_tolerance_px=4.0)
    events = run_path(counter, straight((x_cross, 60), (x_cross, 140)))
    assert (len(events) == 1) is counted


def test_extent_uses_the_crossing_point_not_the_endpoints() -> None:
    counter = make_counter()
    # both endpoints are beyond x=200 but the path meets the line at x=150
    assert len(run_path(counter, [(250, 50), (50, 150)])) == 1
    # going round the end of the segment: the side changes at x=350, outside, and never again
    counter = make_counter()
    assert run_path(counter, [(100, 50), (350, 98), (350, 102), (100, 150)]) == []


@pytest.mark.parametrize(
    ("path", "counted"),
    [
        # meets the line at x~148 while still inside the band, leaves the band far outside
        ([(100, 80), (150, 101), (400, 106)], True),
        # slides outside the segment inside the band, meets the line only there
        ([(100, 80), (330, 99), (330, 106)], False),
    ],
)
def test_extent_uses_where_the_path_met_the_line(path, counted: bool) -> None:
    counter = make_counter(hysteresis_px=5.0, end_tolerance_px=4.0)
    assert (len(run_path(counter, path)) == 1) is counted


def test_missing_frames_between_sides_still_count() -> None:
    counter = make_counter()
    events = counter.update(make_tracked([7], [(50, 80)]), make_frame(index=0, fps=FPS))
    events += counter.update(Detections.empty(), make_frame(index=1, fps=FPS))
    for k in range(9, 12):
        events += counter.update(make_tracked([7], [(50, 130)]), make_frame(index=k, fps=FPS))
    events += counter.flush()
    assert [(e.tracker_id, e.direction) for e in events] == [(7, "in")]


def test_many_tracks_at_once_and_untracked_rows_ignored() -> None:
    counter = make_counter()
    ids = [1, 2, -1, 3]
    before = [(20, 90), (60, 110), (100, 90), (300, 90)]
    after = [(20, 110), (60, 90), (100, 110), (300, 110)]
    events = counter.update(
        make_tracked(ids, before, cls=[2, 3, 2, 2]), make_frame(index=0, fps=FPS)
    )
    for k in range(1, 4):
        events += counter.update(
            make_tracked(ids, after, cls=[2, 3, 2, 2]), make_frame(index=k, fps=FPS)
        )
    events += counter.flush()
    assert sorted((e.tracker_id, e.direction, e.class_name) for e in events) == [
        (1, "in", "car"),
        (2, "out", "motorcycle"),
    ]


def test_class_is_the_vote_when_the_crossing_becomes_final() -> None:
    """The class vote stays open for class_vote_s after the crossing (ids 1, 2: the tracker's vote
    moved on after the crossing); unknown class ids get a name, not an error."""
    counter = make_counter(class_vote_s=0.5)
    counter.update(
        make_tracked([1, 2], [(20, 90), (40, 90)], cls=[0, 0]), make_frame(index=0, fps=FPS)
    )
    events = counter.update(
        make_tracked([1, 2], [(20, 110), (40, 110)], cls=[0, 9]), make_frame(index=1, fps=FPS)
    )
    assert events == [] and counter.pending_count == 2
    for k in range(2, 2 + int(0.5 * FPS)):
        events += counter.update(
            make_tracked([1, 2], [(20, 110 + k), (40, 110 + k)], cls=[1, 9]),
            make_frame(index=k, fps=FPS),
        )
    assert sorted(e.class_name for e in events) == ["bicycle", "class_9"]
    assert {e.frame_index for e in events} == {1}  # the event keeps the crossing's frame
    assert counter.pending_count == 0 and counter.flush() == []


def test_flip_flopping_class_counts_once_with_its_majority() -> None:
    """A track the detector calls car, truck, car, truck... (the tracker's vote says car)
    counts once, as a car, whether it ends by removal, interval flush or vote window."""
    for finish in ("forget", "flush", "window"):
        counter = make_counter(class_vote_s=1.0)
        events = []
        for k in range(40):
            voted = 3 if 9 <= k < 14 else 2  # the vote says truck at the crossing (k = 11)
            events += counter.update(
                make_tracked([5], [(50, 80 + 2 * k)], cls=voted), make_frame(index=k, fps=FPS)
            )
        if finish == "forget":
            events += counter.forget([5])
        elif finish == "flush":
            events += counter.flush()
        else:
            events += counter.update(Detections.empty(), make_frame(index=80, fps=FPS))
        assert [(e.class_name, e.direction) for e in events] == [("car", "in")], finish


def test_forget_evicts_state() -> None:
    counter = make_counter()
    counter.update(
        make_tracked([1, 2, 3], [(20, 90), (40, 90), (60, 90)]), make_frame(index=0, fps=FPS)
    )
    assert counter.tracked_state_count == 3
    assert counter.forget([2, 3, 99]) == []
    assert counter.tracked_state_count == 1
    # a forgotten track has no side any more: its next position alone cannot cross
    events = []
    for k in range(1, 4):
        events += counter.update(
            make_tracked([1, 2], [(20, 110), (40, 110)]), make_frame(index=k, fps=FPS)
        )
    events += counter.flush()
    assert [e.tracker_id for e in events] == [1]


def test_a_track_output_on_too_few_frames_does_not_count_and_is_reported() -> None:
    """A box confirmed for a moment (a merging motion blob, a switch to the road user behind)
    whose bottom jumped over the line: dropped, and reported for the virtual loops."""
    from carbonedge.vision.counting.line import MIN_TRACK_FRAMES

    counter = make_counter()
    path = [(50, 80 + 15 * k) for k in range(MIN_TRACK_FRAMES - 1)]  # y 80, 95, 110: 3 frames
    assert run_path(counter, path, stay=0) == []
    seen = counter.pop_seen()
    assert [s[0] for s in seen] == ["in"]
    assert counter.pop_dropped() == [("in", seen[0][1])] and counter.pop_dropped() == []
    counter = make_counter()  # one frame more: it counts, nothing dropped
    assert [e.direction for e in run_path(counter, path, stay=1)] == ["in"]
    assert counter.pop_dropped() == []


def test_idle_tracks_are_evicted_and_state_stays_bounded() -> None:
    counter = make_counter(forget_after_s=2.0)
    fps = 30.0
    max_state = 0
    for frame_index in range(
        3000
    ):  # a new track every frame, each seen for 5 frames, never forgotten
        ids = list(range(max(0, frame_index - 4), frame_index + 1))
        anchors = [(50, 60 + 2 * (frame_index - i)) for i in ids]
        counter.update(make_tracked(ids, anchors), make_frame(index=frame_index, fps=fps))
        max_state = max(max_state, counter.tracked_state_count)
    assert max_state <= 2.0 * fps + 10
    assert counter._state.capacity <= 256
    counter.update(Detections.empty(), make_frame(index=3000 + 100, fps=fps))
    assert counter.tracked_state_count == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"end_px": (0.0, 100.0)}, "at least 1 px apart"),
        ({"hysteresis_px": -1.0}, "greater than or equal to 0"),
        ({"anchor": "left"}, "bottom_center"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
        ({"id": ""}, "at least 1 character"),
    ],
)
def test_config_errors(kwargs: dict, message: str) -> None:
    fields = {"id": "gate", "start_px": (0.0, 100.0), "end_px": (200.0, 100.0), **kwargs}
    with pytest.raises(ValidationError, match=message):
        LineConfig(**fields)


def test_anchor_choice() -> None:
    # box 20 x 30 whose bottom is 10 px below the line, top 20 px above: only the top-centre
    # anchor crosses when the box moves down by 25 px
    counter = make_counter(anchor="top_center")
    events = run_path(counter, [(50, 110), (50, 135)])
    assert [e.direction for e in events] == ["in"]
    counter = make_counter(anchor="bottom_center")
    assert run_path(counter, [(50, 110), (50, 135)]) == []


def test_with_bytetrack_counts_each_vehicle_once_and_forgets_removed_tracks() -> None:
    from carbonedge.vision.tracking import ByteTrack, ByteTrackConfig

    tracker = ByteTrack(ByteTrackConfig(), fps=FPS)
    counter = make_counter(start=(0.0, 200.0), end=(640.0, 200.0))
    events = []
    for k in range(60):  # two cars driving down through the line, one detection missed per car
        boxes = [[100, 100 + 5 * k, 160, 140 + 5 * k], [400, 60 + 5 * k, 470, 110 + 5 * k]]
        keep = [k != 30, k != 20]
        dets = make_detections(np.asarray(boxes, np.float32)[keep], class_id=2)
        events += counter.update(tracker.update(dets), make_frame(index=k, fps=FPS))
        events += counter.forget(tracker.pop_removed())
    events += counter.flush()
    assert sorted((e.tracker_id, e.direction) for e in events) == [(1, "in"), (2, "in")]
    for k in range(60, 60 + tracker.lost_buffer_frames + 1):
        counter.update(tracker.update(Detections.empty()), make_frame(index=k, fps=FPS))
        counter.forget(tracker.pop_removed())
    assert counter.tracked_state_count == 0


def _inner_box(inner_bottom_above_px: float) -> list[LineCrossed]:
    """A 100 x 60 px box (track 1) drives down through the line with a 40 x 20 px box (track 2)
    inside it, whose bottom lies ``inner_bottom_above_px`` above the big box's (4 px a frame:
    25 px is 0.2 s, within ``DUPLICATE_S``)."""
    counter = make_counter()
    events = []
    for k in range(20):
        y1 = 80.0 + 4 * k  # the big box's bottom: crosses y = 100 at k = 5
        y2 = y1 - inner_bottom_above_px
        boxes = np.array([[20, y1 - 60, 120, y1], [50, y2 - 20, 90, y2]], np.float32)
        tracked = make_detections(boxes, class_id=2, tracker_id=np.array([1, 2]))
        events += counter.update(tracked, make_frame(index=k, fps=FPS))
    return events + counter.flush()


def test_a_second_box_on_one_vehicle_counts_once_a_road_user_beyond_it_counts_too() -> None:
    # the inner box stands on the same ground: a second box on that vehicle (a lorry's "van" box
    # inside its "truck" box), not counted
    assert [e.tracker_id for e in _inner_box(4.0)] == [1]
    # the inner box stands 25 px higher (more than half its height): a road user beyond the
    # first, seen over it (a far-lane car behind a near-lane one), counted too
    assert sorted(e.tracker_id for e in _inner_box(25.0)) == [1, 2]

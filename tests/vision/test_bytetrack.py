"""ByteTrack: confirmation, id stability, occlusion, low-score association, class vote, eviction."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections
from pydantic import ValidationError

from carbonedge.runtime.base.types import Detections
from carbonedge.vision.tracking import ByteTrack, ByteTrackConfig


def box_at(x: float, y: float, w: float = 40.0, h: float = 30.0) -> list[float]:
    return [x, y, x + w, y + h]


def make_tracker(fps: float = 30.0, **kw) -> ByteTrack:
    return ByteTrack(ByteTrackConfig(**kw), fps=fps)


def test_new_track_confirmed_on_second_frame_and_id_stable() -> None:
    tracker = make_tracker()
    first = tracker.update(make_detections([box_at(100, 100)]))
    assert len(first) == 0  # unconfirmed tracks are never output
    ids = []
    for k in range(1, 30):
        out = tracker.update(make_detections([box_at(100 + 4 * k, 100)]))
        assert len(out) == 1
        ids.append(int(out.tracker_id[0]))
    assert set(ids) == {1}
    assert tracker.active_track_count == 1


def test_min_hits_one_outputs_immediately_and_min_hits_three_waits() -> None:
    assert len(make_tracker(min_hits=1).update(make_detections([box_at(0, 0)]))) == 1
    tracker = make_tracker(min_hits=3)
    counts = [len(tracker.update(make_detections([box_at(2 * k, 0)]))) for k in range(4)]
    assert counts == [0, 0, 1, 1]


def test_single_frame_detection_never_output_and_evicted() -> None:
    tracker = make_tracker()
    tracker.update(make_detections([box_at(500, 500)]))
    assert tracker.held_track_count == 1
    out = tracker.update(Detections.empty())
    assert len(out) == 0
    assert tracker.held_track_count == 0
    assert tracker.pop_removed() == []  # never confirmed: nobody downstream knows it


def test_source_row_and_input_order_preserved() -> None:
    tracker = make_tracker()
    boxes = [box_at(0, 0), box_at(300, 0), box_at(600, 0)]
    for k in range(3):
        moved = [[b[0] + 3 * k, b[1], b[2] + 3 * k, b[3]] for b in boxes]
        # a low-score junk row in between, rows reversed, detector rows 10..13
        dets = make_detections(
            [moved[2], box_at(900, 900), moved[1], moved[0]],
            confidence=[0.9, 0.05, 0.8, 0.7],
            source_row=[10, 11, 12, 13],
        )
        out = tracker.update(dets)
    np.testing.assert_array_equal(out.source_row, [10, 12, 13])
    np.testing.assert_allclose(out.xyxy, dets.xyxy[[0, 2, 3]])
    np.testing.assert_allclose(out.confidence, [0.9, 0.8, 0.7])
    assert len(set(out.tracker_id.tolist())) == 3
    assert out.tracker_id.dtype == np.int64 and out.class_id.dtype == np.int32


def _run_occlusion(tracker: ByteTrack, gap_frames: int) -> tuple[set[int], set[int]]:
    """Box moves 5 px/frame right and 2 down; hidden for ``gap_frames``; ids before and after."""
    before, after = set(), set()
    for k in range(40 + gap_frames + 10):
        visible = not (40 <= k < 40 + gap_frames)
        dets = make_detections([box_at(50 + 5 * k, 200 + 2 * k, 60, 40)] if visible else [])
        out = tracker.update(dets)
        (before if k < 40 else after).update(out.tracker_id.tolist())
    return before, after


def test_track_survives_half_second_occlusion() -> None:
    before, after = _run_occlusion(make_tracker(fps=30.0), gap_frames=15)
    assert before == {1}
    assert after == {1}


def test_lost_buffer_is_in_seconds_of_the_real_fps() -> None:
    assert make_tracker(fps=60.0).lost_buffer_frames == 60
    assert make_tracker(fps=30.0, lost_buffer_s=0.3).lost_buffer_frames == 9
    before, after = _run_occlusion(make_tracker(fps=30.0, lost_buffer_s=0.3), gap_frames=15)
    assert before == {1}
    assert 1 not in after and len(after) == 1


def test_low_score_detections_continue_tracks_but_do_not_start_them() -> None:
    tracker = make_tracker()
    for k in range(5):
        tracker.update(make_detections([box_at(100 + 3 * k, 100)]))
    for k in range(5, 10):  # occluded car: score drops below high_score
        out = tracker.update(
            make_detections([box_at(100 + 3 * k, 100), box_at(700, 700)], confidence=0.3)
        )
        np.testing.assert_array_equal(out.tracker_id, [1])
        np.testing.assert_array_equal(out.source_row, [0])
    assert tracker.held_track_count == 1


def test_below_new_track_score_does_not_start_a_track() -> None:
    # 0.42: above high_score (0.4), below new_track_score (0.45)
    tracker = make_tracker()
    for _ in range(5):
        assert len(tracker.update(make_detections([box_at(100, 100)], confidence=0.42))) == 0
    assert tracker.held_track_count == 0


def test_class_vote_is_confidence_weighted_over_the_life() -> None:
    tracker = make_tracker()
    classes = [2] * 4 + [7] * 5 + [7] * 2
    confs = [0.95] * 4 + [0.6] * 5 + [0.9] * 2
    voted = []
    for k, (c, s) in enumerate(zip(classes, confs, strict=True)):
        out = tracker.update(make_detections([box_at(10 + 2 * k, 10)], confidence=s, class_id=c))
        voted.extend(out.class_id.tolist())
    assert voted[:8] == [2] * 8  # 3.8 for class 2 vs 3.0 for class 7 (seen more often)
    assert voted[-1] == 7  # 3.0 + 1.8 > 3.8


def test_two_parallel_objects_keep_distinct_ids() -> None:
    tracker = make_tracker()
    for k in range(20):
        out = tracker.update(make_detections([box_at(10 + 4 * k, 100), box_at(10 + 4 * k, 160)]))
    assert sorted(out.tracker_id.tolist()) == [1, 2]
    assert out.tracker_id[0] == 1  # the upper box was row 0 from the start


def test_invalid_boxes_are_ignored() -> None:
    tracker = make_tracker(min_hits=1)
    boxes = [[10, 10, 10, 40], [np.nan, 0, 5, 5], box_at(100, 100)]
    out = tracker.update(make_detections(boxes))
    np.testing.assert_array_equal(out.source_row, [2])
    with pytest.raises(ValueError, match="class_id must be >= 0"):
        tracker.update(make_detections([box_at(0, 0)], class_id=-1))


def test_reset_reports_ids_and_never_reuses_them() -> None:
    tracker = make_tracker(min_hits=1)
    tracker.update(make_detections([box_at(0, 0), box_at(200, 0)]))
    tracker.reset()
    assert sorted(tracker.pop_removed()) == [1, 2]
    assert tracker.held_track_count == 0
    out = tracker.update(make_detections([box_at(0, 0)]))
    np.testing.assert_array_equal(out.tracker_id, [3])


def test_state_stays_bounded_under_churn() -> None:
    """Objects appear, move and vanish; memory follows the live objects, every id is evicted."""
    rng = np.random.default_rng(7)
    tracker = make_tracker(fps=30.0)
    live: dict[int, list[float]] = {}  # object -> [x, y, vx, frames left]
    seen_ids: set[int] = set()
    removed: list[int] = []
    max_held = 0
    for frame in range(3000):
        if rng.random() < 0.3:
            live[frame] = [
                rng.uniform(0, 1800),
                rng.uniform(0, 1000),
                rng.uniform(-6, 6),
                rng.integers(1, 90),
            ]
        boxes, classes = [], []
        for key, obj in list(live.items()):
            obj[0] += obj[2]
            obj[3] -= 1
            if obj[3] <= 0:
                del live[key]
            elif rng.random() > 0.1:  # occasional missed detection
                boxes.append(box_at(obj[0], obj[1], 50, 40))
                classes.append(key % 4)
        out = tracker.update(
            make_detections(boxes, class_id=classes) if boxes else Detections.empty()
        )
        seen_ids.update(out.tracker_id.tolist())
        removed.extend(tracker.pop_removed())
        max_held = max(max_held, tracker.held_track_count)
    assert len(seen_ids) > 300
    assert max_held < 60
    for _ in range(tracker.lost_buffer_frames + 1):
        tracker.update(Detections.empty())
    removed.extend(tracker.pop_removed())
    assert tracker.held_track_count == 0
    assert len(removed) == len(set(removed))
    assert seen_ids <= set(removed)
    assert tracker._votes.shape[1] <= 4


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"high_score": 0.5, "low_score": 0.6}, "low_score"),
        ({"unknown": 1}, "Extra inputs are not permitted"),
        ({"min_hits": 0}, "greater than or equal to 1"),
        ({"match_iou": 0.0}, "greater than 0"),
    ],
)
def test_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ByteTrackConfig(**kwargs)


def test_warmup_leaves_no_state() -> None:
    tracker = make_tracker()
    tracker.warmup()
    assert tracker.held_track_count == 0
    assert len(tracker.update(make_detections([box_at(0, 0)]))) == 0


def test_fps_must_be_positive() -> None:
    with pytest.raises(ValueError, match="fps must be > 0"):
        ByteTrack(ByteTrackConfig(), fps=0)

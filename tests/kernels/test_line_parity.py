"""Parity: the compiled line counter step vs the NumPy reference counter, frame by frame.

Both counters get the same tracker output (the compiled ByteTrack on the parity scenes), with
rows the counter must ignore (tracker id -1), speeds, and the tracker's removed ids; every frame's
events, the counts and the per-track state columns must be identical. Lines: horizontal, reversed,
vertical, diagonal, a short segment that only part of the traffic crosses, every anchor, no and
wide hysteresis, and a short forget time so idle eviction runs too.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_frame
from test_bytetrack_parity import crossing_scene, road_scene

from carbonedge.runtime.base.types import Detections
from carbonedge.vision.counting import LineConfig, LineCounter
from carbonedge.vision.counting._line_ref import ReferenceLineCounter
from carbonedge.vision.tracking import ByteTrack, ByteTrackConfig

CLASSES = ("car", "van", "bus", "truck", "motorcycle")
FPS = 15.0

LINES = {
    "horizontal": {"start_px": (0.0, 180.0), "end_px": (640.0, 180.0)},
    "reversed_top_anchor": {
        "start_px": (640.0, 150.0), "end_px": (0.0, 150.0), "anchor": "top_center"
    },
    "steep_center": {"start_px": (150.0, 0.0), "end_px": (450.0, 360.0), "anchor": "center"},
    "diagonal_wide_band": {"start_px": (0.0, 50.0), "end_px": (600.0, 350.0), "hysteresis_px": 8.0},
    "short_segment": {
        "start_px": (200.0, 200.0),
        "end_px": (330.0, 200.0),
        "hysteresis_px": 0.0,
        "end_tolerance_px": 0.0,
    },
    "fast_forget": {
        "start_px": (0.0, 120.0),
        "end_px": (640.0, 120.0),
        "forget_after_s": 0.5,
        "class_vote_s": 0.0,
    },
}  # fmt: skip


def tracked_frames(frames: list[Detections], seed: int) -> list[tuple[Detections, list[int]]]:
    """Tracker output per frame plus a few untracked rows (id -1), and the removed ids."""
    rng = np.random.default_rng(seed)
    tracker = ByteTrack(ByteTrackConfig(), FPS)
    out = []
    for det in frames:
        tracked = tracker.update(det)
        if rng.random() < 0.2 and len(det):
            extra = det[np.array([0])]  # tracker_id stays -1: the counter ignores it
            tracked = Detections.concatenate([extra, tracked])
        out.append((tracked, tracker.pop_removed()))
    return out


def assert_same_counting(sequence: list[tuple[Detections, list[int]]], line: dict) -> int:
    """Feed both counters; fail at the first difference; returns the events counted."""
    config = LineConfig(id="l", **line)
    ours = LineCounter(config, device_id="d", source_id="s", class_names=CLASSES)
    theirs = ReferenceLineCounter(config, device_id="d", source_id="s", class_names=CLASSES)
    rng = np.random.default_rng(0)
    n_events = 0
    for k, (tracked, removed) in enumerate(sequence):
        frame = make_frame(index=k, fps=FPS)
        speed = rng.uniform(0, 80, len(tracked))
        speed[rng.random(len(tracked)) < 0.2] = np.nan
        a = ours.update(tracked, frame, speed) + ours.forget(removed)
        b = theirs.update(tracked, frame, speed) + theirs.forget(removed)
        assert a == b, f"frame {k}"
        assert [e.id for e in a] == [e.id for e in b], f"frame {k}"
        n_events += len(a)
    assert ours.flush() == theirs.flush()
    assert ours.counts == theirs.counts
    for name in ("owner", "seen_s", "side", "prev_xy", "prev_dist", "cross_px", "counted"):
        np.testing.assert_array_equal(ours._state[name], theirs._state[name], err_msg=name)
    return n_events


@pytest.fixture(scope="module")
def sequences() -> dict[str, list[tuple[Detections, list[int]]]]:
    return {
        "road": tracked_frames(road_scene(21, duration_s=60.0), 21),
        "crossing": tracked_frames(crossing_scene(22, 900), 22),
    }


@pytest.mark.parametrize("line_name", list(LINES))
@pytest.mark.parametrize("scene", ["road", "crossing"])
def test_line_counter_parity(sequences: dict, scene: str, line_name: str) -> None:
    assert assert_same_counting(sequences[scene], LINES[line_name]) > 3

"""Parity: the compiled ByteTrack step vs the NumPy/scipy reference tracker, frame by frame.

Both trackers get the same detections; every frame's output (ids, source rows, voted classes,
boxes, scores), the removed ids, the track counts and the Kalman state must be identical, not
close. Sequences: the synthetic road scene with detector-like noise, a hand-made scene of crossing
and occluded objects, and random clutter on an integer grid (exact IoU ties, scores exactly at the
thresholds, invalid boxes) that exercises the assignment's tie-breaking. The assignment kernel is
also checked directly against ``scipy.optimize.linear_sum_assignment``.
"""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.kernels import linear_sum_assignment
from carbonedge.kernels import reference as ref
from carbonedge.runtime.base.types import Detections
from carbonedge.vision.tracking import ByteTrack, ByteTrackConfig
from carbonedge.vision.tracking._bytetrack_ref import ReferenceByteTrack

Frames = list[Detections]


# --- detection sequences -------------------------------------------------------------------------
def _detector_noise(boxes: np.ndarray, cls: np.ndarray, rng: np.random.Generator) -> Detections:
    """Missed boxes, jitter, low scores, class flips and false positives on true boxes."""
    keep = rng.random(len(boxes)) >= 0.05
    boxes, cls = boxes[keep], cls[keep]
    boxes = boxes + rng.normal(0.0, 1.5, boxes.shape)
    n = len(boxes)
    conf = np.where(rng.random(n) < 0.15, rng.uniform(0.1, 0.5, n), rng.uniform(0.5, 0.95, n))
    cls = np.where(rng.random(n) < 0.05, rng.integers(0, 5, n), cls)
    n_fp = rng.poisson(0.4)
    xy = rng.uniform(0, 600, (n_fp, 2))
    fp = np.concatenate([xy, xy + rng.uniform(10, 60, (n_fp, 2))], axis=1)
    return Detections(
        np.concatenate([boxes, fp]).astype(np.float32),
        np.concatenate([conf, rng.uniform(0.05, 0.8, n_fp)]).astype(np.float32),
        np.concatenate([cls, rng.integers(0, 5, n_fp)]).astype(np.int32),
    )


def road_scene(seed: int, duration_s: float = 40.0, fps: float = 15.0) -> Frames:
    """The synthetic road scene's true boxes through ``_detector_noise``."""
    gt = SyntheticScene(
        SyntheticSceneConfig(
            id="p", duration_s=duration_s, fps=fps, seed=seed, vehicles_per_minute=150
        )
    ).ground_truth
    names = sorted({v.class_name for v in gt.vehicles})
    cls_of = {v.vehicle_id: names.index(v.class_name) for v in gt.vehicles}
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(gt.n_frames):
        rows = gt.boxes_at(i / fps)
        boxes = np.asarray([b for _, b in rows], np.float64).reshape(-1, 4)
        cls = np.asarray([cls_of[v] for v, _ in rows], np.int64)
        frames.append(_detector_noise(boxes, cls, rng))
    return frames


def crossing_scene(seed: int, n_frames: int = 600, arrivals_per_frame: float = 0.15) -> Frames:
    """Objects on straight paths that cross each other, get occluded for a while (no box),
    drop to low scores and flip class; new objects keep arriving (Poisson)."""
    rng = np.random.default_rng(seed)
    objects: list[dict] = []
    frames = []
    for _ in range(n_frames):
        for _ in range(rng.poisson(arrivals_per_frame)):
            objects.append(
                {
                    "xy": rng.uniform([0, 0], [600, 400]),
                    "v": rng.uniform(-6, 6, 2),
                    "wh": rng.uniform([20, 15], [90, 60]),
                    "cls": int(rng.integers(0, 4)),
                    "life": int(rng.integers(10, 150)),
                    "hidden": 0,
                }
            )
        boxes, conf, cls = [], [], []
        for o in objects:
            o["xy"] = o["xy"] + o["v"]
            o["life"] -= 1
            if o["hidden"] == 0 and rng.random() < 0.03:
                o["hidden"] = int(rng.integers(2, 25))  # occlusion
            if o["hidden"]:
                o["hidden"] -= 1
                continue
            boxes.append([*o["xy"], *(o["xy"] + o["wh"])])
            conf.append(rng.uniform(0.15, 0.45) if rng.random() < 0.2 else rng.uniform(0.5, 1))
            cls.append(int(rng.integers(0, 6)) if rng.random() < 0.1 else o["cls"])
        objects = [o for o in objects if o["life"] > 0]
        frames.append(
            Detections(
                np.asarray(boxes, np.float32).reshape(-1, 4),
                np.asarray(conf, np.float32),
                np.asarray(cls, np.int32),
            )
        )
    return frames


_AT_THRESHOLDS = np.float32([0.1, 0.5, 0.6, 0.7, 0.3, 0.2])


def grid_clutter(seed: int, n_frames: int = 400) -> Frames:
    """Random boxes on a coarse integer grid (many identical IoUs), scores often exactly at a
    threshold, some invalid boxes (zero size, NaN): stresses tie-breaking and filtering."""
    rng = np.random.default_rng(seed)
    frames = []
    base = rng.integers(0, 12, (12, 2)) * 10
    for _ in range(n_frames):
        n = int(rng.integers(0, 14))
        xy = base[rng.integers(0, len(base), n)] + rng.integers(-1, 2, (n, 2)) * 5
        wh = rng.integers(2, 5, (n, 2)) * 10
        boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
        if n:
            boxes[rng.random(n) < 0.05, 2] = boxes[0, 0]  # zero or negative width
            boxes[rng.random(n) < 0.03, 1] = np.nan
        conf = np.where(
            rng.random(n) < 0.4,
            _AT_THRESHOLDS[rng.integers(0, len(_AT_THRESHOLDS), n)],
            np.round(rng.uniform(0, 1, n), 1),
        ).astype(np.float32)
        frames.append(Detections(boxes, conf, rng.integers(0, 7, n).astype(np.int32)))
        if rng.random() < 0.05:
            base = rng.integers(0, 12, (12, 2)) * 10
    return frames


# --- comparison ----------------------------------------------------------------------------------
def assert_same_tracking(frames: Frames, config: ByteTrackConfig, fps: float = 15.0) -> int:
    """Run both trackers over ``frames``; fail at the first difference. Returns ids output."""
    ours, theirs = ByteTrack(config, fps), ReferenceByteTrack(config, fps)
    ids: set[int] = set()
    for k, det in enumerate(frames):
        a, b = ours.update(det), theirs.update(det)
        where = f"frame {k}"
        np.testing.assert_array_equal(a.tracker_id, b.tracker_id, err_msg=where)
        np.testing.assert_array_equal(a.source_row, b.source_row, err_msg=where)
        np.testing.assert_array_equal(a.class_id, b.class_id, err_msg=where)
        np.testing.assert_array_equal(a.xyxy, b.xyxy, err_msg=where)
        np.testing.assert_array_equal(a.confidence, b.confidence, err_msg=where)
        assert ours.pop_removed() == theirs.pop_removed(), where
        assert ours.held_track_count == theirs.held_track_count, where
        assert ours.active_track_count == theirs.active_track_count, where
        ids.update(a.tracker_id.tolist())
    n = ours.held_track_count
    np.testing.assert_array_equal(ours._mean[:n], theirs._mean)
    np.testing.assert_array_equal(ours._cov[:n], theirs._cov)
    ours.reset()
    theirs.reset()
    assert ours.pop_removed() == theirs.pop_removed()
    return len(ids)


CONFIGS = {
    "default": ByteTrackConfig(),
    "no_fuse_min_hits_1": ByteTrackConfig(fuse_score=False, min_hits=1),
    "strict_short_buffer": ByteTrackConfig(
        min_hits=3, lost_buffer_s=0.2, match_iou=0.5, high_score=0.6, new_track_score=0.7
    ),
    "loose_no_buffer": ByteTrackConfig(
        lost_buffer_s=0.0, match_iou=0.05, second_match_iou=0.1, low_score=0.0, high_score=0.3
    ),
    # matching that mostly fails: new tracks start on top of lost ones, so the duplicate rule
    # (and its tie, equal lives) runs hundreds of times per sequence
    "duplicates": ByteTrackConfig(match_iou=0.9, second_match_iou=0.9, min_hits=1),
}


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("seed", [1, 2])
def test_road_scene_parity(config_name: str, seed: int) -> None:
    assert assert_same_tracking(road_scene(seed), CONFIGS[config_name]) > 20


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("seed", [3, 4, 5])
def test_crossing_occlusion_parity(config_name: str, seed: int) -> None:
    assert assert_same_tracking(crossing_scene(seed), CONFIGS[config_name]) > 20


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("seed", [6, 7, 8, 9])
def test_grid_clutter_parity(config_name: str, seed: int) -> None:
    assert assert_same_tracking(grid_clutter(seed), CONFIGS[config_name]) > 0


@pytest.mark.slow
@pytest.mark.parametrize("seed", [10, 11])
def test_long_dense_parity(seed: int) -> None:
    """Minutes of traffic, then a crowd (about 100 objects at once: the state table grows)."""
    frames = road_scene(seed, duration_s=240.0) + crossing_scene(seed, 1500, 1.5)
    assert assert_same_tracking(frames, ByteTrackConfig()) > 1000


def test_errors_match_the_reference() -> None:
    bad = Detections(np.float32([[0, 0, 10, 10]]), np.float32([0.9]), np.int32([-1]))
    for tracker in (ByteTrack(ByteTrackConfig(), 15.0), ReferenceByteTrack(ByteTrackConfig(), 15)):
        with pytest.raises(ValueError, match="class_id must be >= 0"):
            tracker.update(bad)
        assert tracker.held_track_count == 0


def test_state_capacity_grows_and_class_columns_follow_ids() -> None:
    tracker = ByteTrack(ByteTrackConfig(min_hits=1), 15.0)
    xy = np.arange(300, dtype=np.float32)[:, None] * np.float32([100, 0]) + 5
    boxes = np.concatenate([xy, xy + 40], axis=1)
    out = tracker.update(Detections(boxes, np.full(300, 0.9, np.float32), np.full(300, 41)))
    assert len(out) == 300 and tracker.held_track_count == 300
    assert tracker._votes.shape[1] == 42
    np.testing.assert_array_equal(out.class_id, 41)
    np.testing.assert_array_equal(out.tracker_id, np.arange(1, 301))


# --- the assignment kernel vs scipy --------------------------------------------------------------
def _cost_matrices() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = [np.zeros((0, 3)), np.zeros((3, 0)), np.ones((4, 4)), np.ones((3, 5)), np.ones((5, 3))]
    for _ in range(300):
        r, c = (int(x) for x in rng.integers(1, 9, 2))
        kind = rng.integers(0, 3)
        if kind == 0:
            m = rng.random((r, c))
        elif kind == 1:
            m = rng.integers(0, 3, (r, c)).astype(np.float64)  # many ties
        else:  # the tracker's shape of cost: 1 - IoU, clipped above a limit
            m = np.minimum(1.0 - rng.random((r, c)) * (rng.random((r, c)) < 0.4), 0.8001)
        out.append(m)
    inf = rng.random((6, 4))
    inf[inf > 0.7] = np.inf
    out.append(inf)
    return out


def test_linear_sum_assignment_matches_scipy() -> None:
    for m in _cost_matrices():
        rows, cols = linear_sum_assignment(m)
        ref_rows, ref_cols = ref.linear_sum_assignment(m)
        np.testing.assert_array_equal(rows, ref_rows, err_msg=str(m))
        np.testing.assert_array_equal(cols, ref_cols, err_msg=str(m))
        assert rows.dtype == np.int64 and cols.dtype == np.int64


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        (np.array([[0.0, np.nan]]), "invalid numeric entries"),
        (np.array([[-np.inf, 1.0]]), "invalid numeric entries"),
        (np.array([[np.inf, np.inf], [1.0, np.inf]]), "infeasible"),
        (np.zeros(3), "2-D"),
        (np.array([["a"]]), "2-D"),
    ],
)
def test_linear_sum_assignment_errors(cost: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        linear_sum_assignment(cost)

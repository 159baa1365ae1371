"""Synthetic road scene: ground truth consistent with the pixels, determinism, crossings, frames."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import cv2
import numpy as np
import pydantic
import pytest

from carbonedge.devices.sources import create_source
from carbonedge.devices.sources.synthetic import (
    EPOCH_S,
    SceneGroundTruth,
    SyntheticScene,
    SyntheticSceneConfig,
    SyntheticVehicle,
)


@lru_cache(maxsize=8)
def make_scene(
    seed: int = 7, duration_s: float = 40.0, vehicles_per_minute: float = 36.0, fps: float = 15.0
) -> SyntheticScene:
    config = SyntheticSceneConfig(
        id="syn", seed=seed, duration_s=duration_s, fps=fps, vehicles_per_minute=vehicles_per_minute
    )
    return SyntheticScene(config)


def visible_times(gt: SceneGroundTruth, v: SyntheticVehicle, step_s: float = 0.25) -> np.ndarray:
    return np.arange(math.ceil(v.spawn_s / step_s) * step_s, min(v.exit_s, gt.duration_s), step_s)


@pytest.mark.parametrize(
    ("duration_s", "fps", "frames"),
    [(2.0, 10.0, 20), (1.05, 10.0, 11), (10.0, 15.0, 150), (0.05, 15.0, 1)],
)
def test_frame_count_and_timestamps(duration_s: float, fps: float, frames: int) -> None:
    scene = SyntheticScene(SyntheticSceneConfig(id="cam-1", duration_s=duration_s, fps=fps))
    got = list(scene)
    assert len(got) == frames == scene.ground_truth.n_frames
    assert scene.read() is None
    for i, frame in enumerate(got[:25]):
        assert (frame.index, frame.source_id, frame.fps) == (i, "cam-1", fps)
        assert frame.t_mono_s == pytest.approx(i / fps)
        assert frame.t_wall_s == pytest.approx(EPOCH_S + i / fps)
        assert frame.image.shape == (360, 640, 3) and frame.image.dtype == np.uint8
        assert frame.image.flags.c_contiguous
    assert EPOCH_S == 1_767_254_400.0  # 2026-01-01T08:00:00Z
    scene.open()  # rewinds
    np.testing.assert_array_equal(scene.read().image, got[0].image)


def test_deterministic_by_seed() -> None:
    a, b = (
        make_scene(seed=5, duration_s=10.0),
        SyntheticScene(SyntheticSceneConfig(id="syn", seed=5, duration_s=10.0)),
    )
    assert a.ground_truth == b.ground_truth
    for index in (0, 37, 120):
        np.testing.assert_array_equal(a.render(index).image, b.render(index).image)
    c = make_scene(seed=6, duration_s=10.0)
    assert c.ground_truth.vehicles != a.ground_truth.vehicles
    assert not np.array_equal(c.render(37).image, a.render(37).image)


def test_longer_scene_starts_with_the_same_vehicles() -> None:
    short, long = make_scene(duration_s=15.0).ground_truth, make_scene(duration_s=40.0).ground_truth
    assert short.vehicles == long.vehicles[: len(short.vehicles)]
    t_last_s = (short.n_frames - 1) / short.fps
    assert short.crossings() == [c for c in long.crossings() if c[2] <= t_last_s]


def test_scene_content_classes_lanes_speeds() -> None:
    gt = make_scene().ground_truth
    classes = {v.class_name for v in gt.vehicles}
    assert len(gt.vehicles) >= 12 and len(classes) >= 4
    assert {v.direction for v in gt.vehicles} == {"down", "up"}
    lanes = {(v.direction, v.lane) for v in gt.vehicles}
    assert lanes == {("down", 0), ("down", 1), ("up", 0), ("up", 1)}
    assert [v.vehicle_id for v in gt.vehicles] == list(range(len(gt.vehicles)))
    for v in gt.vehicles:
        assert 20.0 <= v.speed_kmh <= 70.0 and 0.0 <= v.spawn_s < gt.duration_s
        assert (v.x_center_m < 0) == (v.direction == "down")  # traffic keeps right
    sizes = {v.class_name: v.length_m for v in gt.vehicles}
    if "bus" in sizes and "car" in sizes:
        assert sizes["bus"] > 2 * sizes["car"]


def test_homography_is_the_ground_plane_of_the_camera() -> None:
    gt = make_scene().ground_truth
    h, p = np.asarray(gt.homography_world_to_image), np.asarray(gt.projection_world_to_image)
    pts = np.array([[-5.0, 20.0], [3.0, 40.0], [0.0, 70.0]])
    via_h = np.c_[pts, np.ones(3)] @ h.T
    via_p = np.c_[pts, np.zeros(3), np.ones(3)] @ p.T
    np.testing.assert_allclose(via_h[:, :2] / via_h[:, 2:], via_p[:, :2] / via_p[:, 2:])
    rows_px = via_h[:, 1] / via_h[:, 2]
    assert rows_px[2] < rows_px[1] < rows_px[0]  # farther is higher in the image (perspective)
    y_m = gt.ground_y_at_row_m(216.0)
    for x_m in (-6.0, 0.0, 6.0):
        q = h @ np.array([x_m, y_m, 1.0])
        assert q[1] / q[2] == pytest.approx(216.0)


def test_counting_line_across_the_road_at_60_percent() -> None:
    (x1, y1), (x2, y2) = make_scene().ground_truth.counting_line_px
    assert y1 == y2 == pytest.approx(0.6 * 360)
    assert 0 <= x1 < 320 < x2 <= 640 and x2 - x1 > 300


def _vehicle_masks(gt: SceneGroundTruth, t_s: float) -> tuple[np.ndarray, list[np.ndarray]]:
    """Union of all projected vehicle hulls, and one hull mask per visible vehicle."""
    union, hulls = np.zeros((360, 640), np.uint8), []
    for v in gt.vehicles:
        if not v.on_screen(t_s):
            continue
        hull = cv2.convexHull(np.round(gt.corners_px(v, t_s)).astype(np.int32))
        one = np.zeros_like(union)
        cv2.fillConvexPoly(one, hull, 1)
        union |= one
        hulls.append(one)
    return union, hulls


@pytest.mark.parametrize("nth", [0, 3, 6, 9, 12, 15])
def test_rendering_matches_projected_ground_truth(nth: int) -> None:
    scene, empty = make_scene(), make_scene(vehicles_per_minute=0.0)
    v = scene.ground_truth.vehicles[nth]  # a frame in the middle of the nth vehicle's passage
    index = min(round((v.spawn_s + v.exit_s) / 2 * scene.fps), scene.ground_truth.n_frames - 1)
    frame = scene.render(index)
    road = empty.render(index).image  # same background, drift and noise, no vehicles
    changed = np.abs(frame.image.astype(np.int16) - road).max(axis=2) > 12
    union, hulls = _vehicle_masks(scene.ground_truth, frame.t_mono_s)
    near_hull = cv2.dilate(union, np.ones((5, 5), np.uint8)) > 0
    assert not changed[~near_hull].any()  # nothing is drawn where no vehicle projects
    for hull in hulls:
        inside = hull > 0
        assert changed[inside].mean() > 0.85  # every projected vehicle is drawn where expected
    assert hulls


def test_vehicles_enter_and_leave_off_screen() -> None:
    gt = make_scene().ground_truth
    for v in gt.vehicles:
        for t_s in (v.spawn_s, v.exit_s):
            pts = gt.corners_px(v, t_s)
            outside = (pts[:, 1] < 0).all() or (pts[:, 1] > 360).all()
            assert outside, (v.vehicle_id, t_s)
        assert gt.box_px(v, v.spawn_s - 0.01) is None
        assert v.exit_s - v.spawn_s > 2.0  # on screen long enough to be tracked


def test_vehicles_of_one_lane_never_overlap_in_the_image() -> None:
    gt = make_scene().ground_truth
    for t_s in np.arange(0.0, gt.duration_s, 0.2):
        by_lane: dict[tuple[str, int], list[tuple[float, float]]] = {}
        for v in gt.vehicles:
            if v.on_screen(t_s):
                pts = gt.corners_px(v, t_s)
                span = (pts[:, 1].min(), pts[:, 1].max())
                by_lane.setdefault((v.direction, v.lane), []).append(span)
        for spans in by_lane.values():
            spans.sort()
            for (_, bottom), (top, _) in itertools.pairwise(spans):
                assert bottom < top


def test_crossing_times_put_the_anchor_on_the_line() -> None:
    gt = make_scene().ground_truth
    line_y = gt.counting_line_px[0][1]
    crossings = gt.crossings()
    assert len(crossings) >= 10
    assert [c[2] for c in crossings] == sorted(c[2] for c in crossings)
    by_id = {v.vehicle_id: v for v in gt.vehicles}
    for vid, direction, t_s in crossings:
        v = by_id[vid]
        assert direction == v.direction and v.spawn_s < t_s < v.exit_s
        assert gt.box_px(v, t_s)[3] == pytest.approx(line_y, abs=1e-6)  # bottom of the box
        before, after = gt.box_px(v, t_s - 0.2)[3], gt.box_px(v, t_s + 0.2)[3]
        assert (before < line_y < after) if direction == "down" else (after < line_y < before)
    crossed = {c[0] for c in crossings}
    t_last_s = (gt.n_frames - 1) / gt.fps
    for v in gt.vehicles:  # vehicles not counted have not reached the line by the last frame
        if v.vehicle_id not in crossed:
            box = gt.box_px(v, t_last_s)
            assert box is not None
            assert (box[3] < line_y) if v.direction == "down" else (box[3] > line_y)


def test_crossings_at_another_row() -> None:
    gt = make_scene().ground_truth
    low = gt.crossings(line_y_px=300.0)
    by_id = {v.vehicle_id: v for v in gt.vehicles}
    for vid, _, t_s in low:
        assert gt.box_px(by_id[vid], t_s)[3] == pytest.approx(300.0, abs=1e-6)
    down_times = {vid: t for vid, d, t in gt.crossings() if d == "down"}
    for vid, direction, t_s in low:
        if direction == "down" and vid in down_times:
            assert t_s > down_times[vid]  # down-moving vehicles reach the lower row later


def test_registry() -> None:
    scene = create_source(SyntheticSceneConfig(id="demo", duration_s=1.0))
    assert isinstance(scene, SyntheticScene) and scene.source_id == "demo" and scene.fps == 15.0


@pytest.mark.parametrize(
    ("changes", "bad_key"),
    [
        ({"fps": 0}, "fps"),
        ({"seed": -1}, "seed"),  # NumPy rejects negative seeds: caught at config time
        ({"noise_sigma_levels": -0.5}, "noise_sigma_levels"),
        ({"noise_sigma": 2.0}, "noise_sigma"),  # renamed: units in the name
        ({"colour": "red"}, "colour"),
        ({"seed": 0}, None),
        ({"noise_sigma_levels": 0.0}, None),
    ],
)
def test_config_validation(changes: dict, bad_key: str | None) -> None:
    if bad_key is None:
        SyntheticSceneConfig(id="demo", **changes)
        return
    with pytest.raises(pydantic.ValidationError) as info:
        SyntheticSceneConfig(id="demo", **changes)
    assert [e["loc"] for e in info.value.errors()] == [(bad_key,)]


@pytest.mark.parametrize("sigma_levels", [0.0, 5.0])
def test_sensor_noise_in_grey_levels(sigma_levels: float) -> None:
    def empty(sigma: float) -> SyntheticScene:
        config = SyntheticSceneConfig(
            id="n", duration_s=1.0, vehicles_per_minute=0.0, noise_sigma_levels=sigma
        )
        return SyntheticScene(config)

    clean = empty(0.0).render(3).image.astype(np.float64)
    noisy = empty(sigma_levels).render(3).image.astype(np.float64)
    unclipped = (clean > 30) & (clean < 225)
    residual = (noisy - clean)[unclipped]
    assert residual.std() == pytest.approx(sigma_levels, abs=0.1)

"""Ground-plane homography from measured points: RANSAC, errors, verdict, bad input, speeds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from carbonedge.calibration.errors import CalibrationInputError
from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.calibration.homography import fit_ground_plane
from carbonedge.devices.sources.synthetic import EPOCH_S, SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime import audit_traffic
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.vision.counting.line import LineConfig
from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig

SIZE_PX = (640, 360)


def make_scene(duration_s: float = 1.0) -> SyntheticScene:
    return SyntheticScene(SyntheticSceneConfig(id="synthetic", duration_s=duration_s, seed=7))


def truth_plane() -> GroundPlane:
    gt = make_scene().ground_truth
    return GroundPlane(np.linalg.inv(np.asarray(gt.homography_world_to_image, np.float64)))


def lane_marking_points() -> tuple[np.ndarray, np.ndarray]:
    """What a technician measures: lane-line positions (every 3.5 m across) at 5 distances,
    and their exact pixels in the synthetic scene (those inside the image)."""
    x_m, y_m = np.meshgrid([-7.0, -3.5, 0.0, 3.5, 7.0], [17.0, 21.0, 25.0, 30.0, 36.0])
    world = np.column_stack([x_m.ravel(), y_m.ravel()])
    px = truth_plane().to_image(world)
    inside = (px[:, 0] > 0) & (px[:, 0] < SIZE_PX[0]) & (px[:, 1] > 0) & (px[:, 1] < SIZE_PX[1])
    return px[inside], world[inside]


def test_exact_points_recover_the_scene_homography() -> None:
    px, world = lane_marking_points()
    fit = fit_ground_plane(px, world, image_size_px=SIZE_PX)
    assert fit.verdict == "pass" and fit.reason == ""
    assert fit.inliers.all() and fit.rms_error_m < 1e-6 and np.nanmax(fit.loo_error_m) < 1e-6
    probe = np.array([[100.0, 300.0], [500.0, 200.0], [320.0, 250.0]])
    np.testing.assert_allclose(
        fit.ground_plane.to_world(probe), truth_plane().to_world(probe), atol=1e-6
    )
    json.dumps(fit.to_dict(), allow_nan=False)  # JSON-ready


@pytest.mark.parametrize("sigma_px", [0.5, 1.0, 2.0])
def test_reported_error_matches_injected_pixel_noise(sigma_px: float) -> None:
    """Clicks with Gaussian noise sigma px in x and y: ``noise_px`` estimates sigma.

    Comparison: mean of ``noise_px`` over 10 seeded trials of 30 random road points is within
    10 % of sigma (the standard error of one estimate with 52 degrees of freedom is ~10 %, of the
    mean ~3 %), and the per-point pixel errors' RMS is close to sigma*sqrt((2N-8)/N)."""
    rng = np.random.default_rng(11)
    plane = truth_plane()
    estimates, rms_ratio = [], []
    for _ in range(10):
        clean = np.column_stack([rng.uniform(20, 620, 30), rng.uniform(140, 350, 30)])
        world = plane.to_world(clean)
        fit = fit_ground_plane(
            clean + rng.normal(0.0, sigma_px, clean.shape), world, image_size_px=SIZE_PX,
            ransac_threshold_m=5.0,
        )  # fmt: skip
        assert fit.inliers.all()
        estimates.append(fit.noise_px)
        rms_ratio.append(fit.rms_error_px / (sigma_px * np.sqrt((2 * 30 - 8) / 30)))
    assert np.mean(estimates) == pytest.approx(sigma_px, rel=0.10)
    assert np.mean(rms_ratio) == pytest.approx(1.0, rel=0.10)


def test_outlier_is_found_named_and_left_out() -> None:
    px, world = lane_marking_points()
    world = world.copy()
    world[3] += (0.0, 2.5)  # a tape reading written down wrong
    fit = fit_ground_plane(px, world, image_size_px=SIZE_PX)
    assert fit.verdict == "fail"
    assert not fit.inliers[3] and fit.inliers.sum() == len(px) - 1
    assert "point 4 (" in fit.reason and "re-measure" in fit.reason
    assert fit.per_point_error_m[3] > 2.0 and fit.rms_error_m < 1e-6


def test_leave_one_out_catches_a_point_the_fit_depends_on() -> None:
    """Five points, one far from the rest: every error is tiny but leaving it out shows the fit
    cannot be trusted there."""
    px, world = lane_marking_points()
    rng = np.random.default_rng(2)
    pick = [0, 1, 5, 6, len(px) - 1]
    noisy = px[pick] + rng.normal(0.0, 1.5, (5, 2))
    fit = fit_ground_plane(noisy, world[pick], image_size_px=SIZE_PX, ransac_threshold_m=5.0)
    assert fit.verdict == "fail" and "left out" in fit.reason
    assert np.nanmax(fit.loo_error_m) > 1.0 > fit.rms_error_m


def test_four_points_fit_but_cannot_be_checked() -> None:
    """Without the image size nothing can disagree with 4 points (with it, a camera can:
    test_homography_blame.py)."""
    px, world = lane_marking_points()
    fit = fit_ground_plane(px[[0, 4, 15, 19]], world[[0, 4, 15, 19]])
    assert fit.verdict == "fail" and "at least 5" in fit.reason
    assert np.isnan(fit.loo_error_m).all() and fit.to_dict()["loo_error_m"] == [None] * 4


def test_grid_overlay_lies_on_the_ground_lines() -> None:
    px, world = lane_marking_points()
    fit = fit_ground_plane(px, world, image_size_px=SIZE_PX)
    grid = fit.grid_px(SIZE_PX, spacing_m=3.5)
    assert len(grid) > 10
    for polyline in grid:
        pts = np.array(polyline)
        assert ((pts >= -1) & (pts <= np.array(SIZE_PX) + 1)).all()
        ground = truth_plane().to_world(pts)
        # each polyline is a line of constant X or constant Y, on a multiple of 3.5 m
        spread = np.ptp(ground, axis=0)
        axis = int(np.argmin(spread))
        assert spread[axis] < 0.02
        assert abs(ground[0, axis] / 3.5 - round(ground[0, axis] / 3.5)) < 0.01


@pytest.mark.parametrize(
    ("image_px", "world_m", "message"),
    [
        ([[0, 0], [10, 0], [0, 10]], [[0, 0], [1, 0], [0, 1]], "at least 4 point pairs"),
        ([[0, 0]] * 4, [[0, 0]] * 5, "4 image points but 5 world points"),
        (
            [[0, 0], [100, 100], [200, 200], [300, 300], [50, 50]],
            [[0, 0], [1, 0], [0, 1], [1, 1], [2, 3]],
            "image_px all lie on one line",
        ),  # fmt: skip
        (
            [[0, 0], [100, 0], [0, 100], [100, 100]],
            [[0, 0], [1, 1], [2, 2], [3, 3]],
            "world_m all lie on one line",
        ),  # fmt: skip
        (
            [[0, 0], [100, 0], [200, 0], [100, 100]],
            [[0, 0], [1, 0], [0, 1], [1, 1]],
            r"points 1, 2, 3 \(image_px\) are on one line",
        ),  # fmt: skip
        (
            [[0, 0], [100, 0], [0, 100], [700, 100]],
            [[0, 0], [1, 0], [0, 1], [1, 1]],
            r"point 4: image_px \(700, 100\) is outside the 640x360 image",
        ),  # fmt: skip
        (
            [[0, 0], [100, 0], [0, -3], [100, 100]],
            [[0, 0], [1, 0], [0, 1], [1, 1]],
            r"point 3: image_px \(0, -3\) is outside",
        ),  # fmt: skip
        (
            [[0, 0], [100, 0], [0, 100], [100, 100]],
            [[0, 0], [1, 0], [0, float("nan")], [1, 1]],
            "point 3: world_m .* is not a finite number",
        ),  # fmt: skip
        (
            [[0, 0], [100, 0], [0, 100], [0, 100]],
            [[0, 0], [1, 0], [0, 1], [1, 1]],
            "points 3 and 4 have the same image_px",
        ),  # fmt: skip
    ],
)
def test_bad_input(image_px: list, world_m: list, message: str) -> None:
    with pytest.raises(CalibrationInputError, match=message) as info:
        fit_ground_plane(image_px, world_m, image_size_px=SIZE_PX)
    assert isinstance(info.value, ConfigError)


def test_speeds_from_a_fitted_homography_are_within_2_percent() -> None:
    """Synthetic demo scene, exact geometry: fit from the lane-marking points with 1 px click
    noise, run the weight-free pipeline with the exact and with the fitted homography. Every
    crossing's speed with the fitted one is within 2 % of the same crossing with the exact one
    (the calibration's own share of the error), and the mean error against the true speeds is
    within 2 %."""
    px, world = lane_marking_points()
    noisy = px + np.random.default_rng(3).normal(0.0, 1.0, px.shape)
    fit = fit_ground_plane(noisy, world, image_size_px=SIZE_PX)
    assert fit.verdict == "pass", fit.reason
    assert fit.noise_px == pytest.approx(1.0, rel=0.35)
    gt = make_scene().ground_truth
    (x1, y1), (x2, y2) = gt.counting_line_px
    line = LineConfig(id="line", start_px=(x1, y1), end_px=(x2, y2))
    speeds, reports = {}, {}
    for name in ("exact", "fitted"):
        scene = make_scene(duration_s=40.0)
        truth = audit_traffic.synthetic_truth(scene, line)
        plane = truth.ground_plane if name == "exact" else fit.ground_plane_config()
        events, result = audit_traffic._run(
            scene, MotionDetector(MotionDetectorConfig()), truth, plane
        )
        speeds[name] = [(e.t_wall_s, e.speed_kmh) for e in events]
        reports[name] = audit_traffic.score_events(
            truth, events, t0_wall_s=EPOCH_S, fps=scene.fps, frames=result.frames, clip="s",
            detector="motion",
        ).to_dict()["speed_error_pct"]  # fmt: skip
    assert len(speeds["exact"]) == len(speeds["fitted"]) >= 15
    for (t_exact, v_exact), (t_fit, v_fit) in zip(speeds["exact"], speeds["fitted"], strict=True):
        assert t_exact == t_fit
        assert v_fit == pytest.approx(v_exact, rel=0.02)
    assert reports["fitted"]["matched"] == reports["exact"]["matched"]
    assert abs(reports["fitted"]["mean_signed"]) < 2.0

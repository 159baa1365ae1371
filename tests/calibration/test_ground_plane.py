"""Ground-plane homography: fitting, validation, and recovering the camera from it."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from carbonedge.calibration.ground_plane import (
    GroundPlane,
    GroundPlaneConfig,
    camera_from_homography,
)
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig


def synthetic_world_to_image() -> np.ndarray:
    scene = SyntheticScene(SyntheticSceneConfig(id="s", duration_s=1))
    return np.asarray(scene.ground_truth.homography_world_to_image, np.float64)


def test_fit_from_points_reproduces_the_scene_homography() -> None:
    h = synthetic_world_to_image()
    truth = GroundPlane(np.linalg.inv(h))
    world = np.array([[-5.0, 15.0], [5.0, 15.0], [6.0, 40.0], [-6.0, 40.0], [0.0, 25.0]])
    pixels = truth.to_image(world)
    config = GroundPlaneConfig(
        points=[
            {"image_px": tuple(p), "world_m": tuple(w)} for p, w in zip(pixels, world, strict=True)
        ]
    )
    fitted = GroundPlane.from_config(config)
    probe_px = np.array([[100.0, 300.0], [500.0, 200.0], [320.0, 250.0]])
    np.testing.assert_allclose(fitted.to_world(probe_px), truth.to_world(probe_px), atol=1e-6)
    np.testing.assert_allclose(fitted.to_image(fitted.to_world(probe_px)), probe_px, atol=1e-6)


def test_matrix_config_maps_points() -> None:
    gp = GroundPlane.from_config(
        GroundPlaneConfig(image_to_world=[[0.1, 0, 0], [0, 0.1, 0], [0, 0, 1]])
    )
    np.testing.assert_allclose(gp.to_world(np.array([[10.0, 20.0]])), [[1.0, 2.0]])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "exactly one of"),
        ({"image_to_world": [[1, 0, 0], [0, 1, 0], [0, 0, 0]]}, "singular"),
        ({"points": [{"image_px": [0, 0], "world_m": [0, 0]}] * 3}, "at least 4"),
        ({"image_to_world": [[1, 0], [0, 1]]}, "image_to_world"),
        (
            {"points": [{"image_px": [i, i], "world_m": [i, 2 * i]} for i in range(4)]},
            "do not determine a homography",
        ),
    ],
)
def test_config_errors(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        GroundPlaneConfig(**data)


def test_collinear_points_are_a_clear_error() -> None:
    pts = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    with pytest.raises(ValueError, match="do not determine a homography"):
        GroundPlane.fit(pts, pts * 2)


def test_camera_is_recovered_from_the_homography() -> None:
    """The synthetic camera: 12 m above the road, focal 1.95 x 360 px, pitched 23 degrees."""
    f, rot, centre = camera_from_homography(synthetic_world_to_image(), (640, 360))
    assert f == pytest.approx(1.95 * 360, rel=1e-6)
    assert centre[2] == pytest.approx(12.0, rel=1e-6)
    assert abs(centre[0]) < 1e-6 and abs(centre[1]) < 1e-6
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    pitch_deg = np.degrees(np.arcsin(-rot[2, 2]))  # optical axis below the horizon
    assert pitch_deg == pytest.approx(23.0, abs=1e-6)

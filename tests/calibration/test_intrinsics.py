"""Intrinsics from checkerboard frames rendered with a known, distorting camera; azimuths."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.calibration.errors import CalibrationInputError
from carbonedge.calibration.intrinsics import Azimuth, Intrinsics, calibrate_images

SIZE_PX = (640, 480)
K_TRUE = np.array([[520.0, 0.0, 322.0], [0.0, 520.0, 236.0], [0.0, 0.0, 1.0]])
DIST_TRUE = np.array([-0.18, 0.05, 0.0, 0.0, 0.0])
BOARD = (9, 6)  # inner corners
SQUARE_MM = 25.0


def render_board(rvec: np.ndarray, tvec_mm: np.ndarray, supersample: int = 3) -> np.ndarray:
    """A (480, 640) uint8 view of a 10x7-square board (white margin) through the true camera.

    Each sample point is undistorted to a ray, the ray meets the board plane (board frame,
    millimetres), and the board colour there is taken: exact geometry, distortion included.
    ``supersample`` x ``supersample`` samples per pixel are averaged (anti-aliased edges)."""
    s = supersample
    offsets = (np.arange(s) + 0.5) / s - 0.5  # sample positions around each pixel centre
    u, v = np.meshgrid(
        (np.arange(SIZE_PX[0])[:, None] + offsets).ravel(),
        (np.arange(SIZE_PX[1])[:, None] + offsets).ravel(),
    )
    px = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    rays = cv2.undistortPoints(px, K_TRUE, DIST_TRUE).reshape(-1, 2)
    rays = np.column_stack([rays, np.ones(len(rays))])
    r, _ = cv2.Rodrigues(rvec)
    # board point (X, Y, 0) -> camera r[:, :2] @ (X, Y) + t; solve s * ray = that for X, Y, s
    h = np.column_stack([r[:, 0], r[:, 1], tvec_mm])
    xy = (np.linalg.inv(h) @ rays.T).T
    xy = xy[:, :2] / xy[:, 2:3]
    col = np.floor(xy[:, 0] / SQUARE_MM + 1.0)  # squares -1 .. 9 across, -1 .. 6 down
    row = np.floor(xy[:, 1] / SQUARE_MM + 1.0)
    on_board = (col >= 0) & (col < BOARD[0] + 1) & (row >= 0) & (row < BOARD[1] + 1)
    margin = (col >= -1) & (col < BOARD[0] + 2) & (row >= -1) & (row < BOARD[1] + 2)
    value = np.full(len(xy), 60, np.uint8)  # background
    value[margin] = 235
    value[on_board & ((col + row) % 2 == 0)] = 20
    fine = value.reshape(SIZE_PX[1] * s, SIZE_PX[0] * s).astype(np.float64)
    pixels = fine.reshape(SIZE_PX[1], s, SIZE_PX[0], s).mean(axis=(1, 3))
    return np.round(pixels).astype(np.uint8)


def board_views(n: int, seed: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    views = []
    for _ in range(n):
        rvec = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.5, 0.5), rng.uniform(-0.2, 0.2)])
        tvec = np.array([rng.uniform(-150, 0), rng.uniform(-110, -20), rng.uniform(420, 600)])
        views.append(render_board(rvec, tvec))
    return views


def write_frames(folder: Path, frames: list[np.ndarray], prefix: str = "board") -> list[Path]:
    paths = []
    for i, frame in enumerate(frames):
        path = folder / f"{prefix}{i:02d}.png"
        cv2.imwrite(str(path), frame)
        paths.append(path)
    return paths


def test_recovers_focal_length_and_distortion(tmp_path: Path) -> None:
    paths = write_frames(tmp_path, board_views(12))
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((480, 640), 128, np.uint8))
    result = calibrate_images([*paths, blank], board=BOARD, square_mm=SQUARE_MM)
    assert result.frames_rejected == (str(blank),) and len(result.frames_used) >= 10
    fx, fy = result.focal_px
    assert fx == pytest.approx(520.0, rel=0.005) and fy == pytest.approx(520.0, rel=0.005)
    cx, cy = result.principal_point_px
    assert abs(cx - 322.0) < 4.0 and abs(cy - 236.0) < 4.0
    assert result.dist_coeffs[0] == pytest.approx(-0.18, abs=0.02)
    assert 0.0 < result.rms_error_px < 0.3
    again = Intrinsics.from_dict(result.to_dict())
    np.testing.assert_allclose(again.camera_matrix, result.camera_matrix)
    # undistorting a distorted projection gives the pinhole projection
    pts3 = np.array([[0.2, -0.1, 1.0], [-0.3, 0.25, 1.0]])
    distorted, _ = cv2.projectPoints(pts3, np.zeros(3), np.zeros(3), K_TRUE, DIST_TRUE)
    pinhole = (K_TRUE @ pts3.T).T[:, :2]
    np.testing.assert_allclose(result.undistort_px(distorted.reshape(-1, 2)), pinhole, atol=1.5)


def test_too_few_boards_names_the_frames(tmp_path: Path) -> None:
    good = write_frames(tmp_path, board_views(2))
    bad = write_frames(tmp_path, [np.full((480, 640), 90, np.uint8)] * 2, prefix="empty")
    with pytest.raises(CalibrationInputError, match="found in 2 of 4 frames, need at least 5") as e:
        calibrate_images([*good, *bad], board=BOARD, square_mm=SQUARE_MM)
    assert str(bad[0]) in str(e.value) and str(bad[1]) in str(e.value)
    with pytest.raises(CalibrationInputError, match="missing.png: cannot read the image"):
        calibrate_images([tmp_path / "missing.png"])
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.zeros((240, 320), np.uint8))
    with pytest.raises(CalibrationInputError, match="small.png: 320x240 differs"):
        calibrate_images([good[0], small])


def test_azimuth_per_column() -> None:
    az = Azimuth.from_hfov(heading_deg=350.0, hfov_deg=90.0, width_px=1000)
    assert az.azimuth_deg(500.0) == pytest.approx(350.0)
    assert az.azimuth_deg(1000.0) == pytest.approx(35.0)  # wraps past north
    assert az.azimuth_deg(0.0) == pytest.approx(305.0)
    np.testing.assert_allclose(az.azimuth_deg(np.array([0.0, 500.0])), [305.0, 350.0])
    assert Azimuth.from_dict(az.to_dict()) == az
    with pytest.raises(CalibrationInputError, match="hfov_deg must be in"):
        Azimuth.from_hfov(0.0, 180.0, 640)
    with pytest.raises(CalibrationInputError, match="focal_px > 0"):
        Azimuth(10.0, -1.0, 320.0)

"""Ground-plane homography: image pixels <-> metres on the road surface.

A site gives it either as the 3x3 matrix ``image_to_world`` (pixels -> metres, homogeneous) or as
at least four measured point pairs (image pixel, ground metres), fitted here by least squares
(OpenCV ``findHomography`` without RANSAC: every point a technician measured counts; the
calibration tools report per-point errors and outliers). World coordinates are any metric frame
on the ground (X, Y in metres); speeds and distances do not depend on its origin or orientation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from carbonedge.kernels.geometry import apply_homography  # noqa: F401 - re-exported

__all__ = ["GroundPlane", "GroundPlaneConfig", "PointPair"]


class PointPair(BaseModel):
    """One measured correspondence: a pixel and the ground position it shows, in metres."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_px: tuple[float, float] = Field(description="the point in the frame, (x, y) pixels")
    world_m: tuple[float, float] = Field(
        description="the same point on the road plane, (x, y) metres in any fixed local frame",
    )


class GroundPlaneConfig(BaseModel):
    """Exactly one of ``image_to_world`` (3x3, pixels -> metres) or ``points`` (>= 4 pairs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image_to_world: tuple[tuple[float, float, float], ...] | None = Field(
        None,
        description="3x3 homography from pixels to road-plane metres (instead of points)",
    )
    points: tuple[PointPair, ...] | None = Field(
        None,
        min_length=4,
        description="at least 4 measured pixel <-> ground pairs the homography is fitted to",
    )

    @model_validator(mode="after")
    def _one_of(self) -> GroundPlaneConfig:
        if (self.image_to_world is None) == (self.points is None):
            raise ValueError("give exactly one of image_to_world (3x3) or points (>= 4 pairs)")
        if self.image_to_world is not None:
            h = np.asarray(self.image_to_world, np.float64)
            if h.shape != (3, 3) or not np.isfinite(h).all():
                raise ValueError("image_to_world must be 3 rows of 3 finite numbers")
            if abs(np.linalg.det(h)) < 1e-12:
                raise ValueError("image_to_world is singular (determinant ~ 0)")
        else:
            GroundPlane.from_config(self)  # the points must determine a homography
        return self


class GroundPlane:
    """Maps image points to ground metres through a homography."""

    def __init__(self, image_to_world: NDArray[np.float64]) -> None:
        h = np.asarray(image_to_world, np.float64)
        if h.shape != (3, 3) or not np.isfinite(h).all():
            raise ValueError("GroundPlane: image_to_world must be a finite 3x3 matrix")
        self.image_to_world = h / h[2, 2] if h[2, 2] != 0 else h
        self.world_to_image = np.linalg.inv(self.image_to_world)

    @classmethod
    def from_config(cls, config: GroundPlaneConfig) -> GroundPlane:
        if config.image_to_world is not None:
            return cls(np.asarray(config.image_to_world, np.float64))
        assert config.points is not None
        return cls.fit(
            np.array([p.image_px for p in config.points], np.float64),
            np.array([p.world_m for p in config.points], np.float64),
        )

    @classmethod
    def fit(cls, image_px: NDArray, world_m: NDArray) -> GroundPlane:
        """Least-squares homography from >= 4 pairs (no three of them on one line)."""
        import cv2

        if len(image_px) < 4 or len(image_px) != len(world_m):
            raise ValueError(
                "GroundPlane.fit: need at least 4 point pairs, as many pixels as metres"
            )
        h, _ = cv2.findHomography(
            np.asarray(image_px, np.float64), np.asarray(world_m, np.float64), 0
        )
        if h is None or not np.isfinite(h).all() or abs(np.linalg.det(h)) < 1e-12:
            raise ValueError(
                "GroundPlane.fit: the points do not determine a homography "
                "(are three of them on one line?)"
            )
        return cls(h)

    def to_world(self, xy_px: NDArray) -> NDArray[np.float64]:
        """(N, 2) image pixels -> (N, 2) ground metres (NaN on the horizon line itself).

        Pixels above the horizon have no ground point; they map to meaningless far positions, so
        analytics should only use anchors on the road (lines and zones are drawn there)."""
        return apply_homography(self.image_to_world, xy_px)

    def to_image(self, xy_m: NDArray) -> NDArray[np.float64]:
        """(N, 2) ground metres -> (N, 2) image pixels."""
        return apply_homography(self.world_to_image, xy_m)


def camera_from_homography(
    world_to_image: NDArray[np.float64], image_size_px: tuple[int, int]
) -> tuple[float, NDArray[np.float64], NDArray[np.float64]]:
    """Focal length, rotation and centre of the camera that sees the ground through a homography.

    Assumes square pixels, no skew and the principal point at the image centre (true of almost
    every CCTV camera after undistortion), which leaves the focal length as the only unknown
    intrinsic (Zhang's plane-based calibration with one unknown). It is found from the two
    constraints on the homography's first two columns (``r1 . r2 = 0`` and ``|r1| = |r2|``),
    taking the better-conditioned one.

    Args:
        world_to_image: 3x3 homography, ground (X, Y, 1) metres -> image pixels.
        image_size_px: (width, height).

    Returns:
        (focal length px, (3, 3) rotation world -> camera, (3,) camera centre in world metres,
        Z up: its third entry is the mounting height above the road).

    Raises:
        ValueError: the homography does not determine a focal length (a degenerate view).
    """
    w, h = image_size_px
    shift = np.array([[1.0, 0.0, -w / 2.0], [0.0, 1.0, -h / 2.0], [0.0, 0.0, 1.0]])
    m = shift @ np.asarray(world_to_image, np.float64)
    (a1, a2), (b1, b2), (c1, c2) = m[0, :2], m[1, :2], m[2, :2]
    candidates = []
    if abs(c1 * c2) > 1e-12:  # r1 . r2 = 0
        candidates.append((abs(c1 * c2), -(a1 * a2 + b1 * b2) / (c1 * c2)))
    if abs(c1 * c1 - c2 * c2) > 1e-12:  # |r1| = |r2|
        candidates.append(
            (abs(c1 * c1 - c2 * c2), (a2 * a2 + b2 * b2 - a1 * a1 - b1 * b1) / (c1 * c1 - c2 * c2))
        )
    f2 = [f2 for _, f2 in sorted(candidates, reverse=True) if f2 > 0]
    if not f2:
        raise ValueError("the ground-plane homography does not determine a focal length")
    f = float(np.sqrt(f2[0]))
    k_inv = np.diag([1.0 / f, 1.0 / f, 1.0])
    b = k_inv @ m
    scale = 2.0 / (np.linalg.norm(b[:, 0]) + np.linalg.norm(b[:, 1]))
    r1, r2, t = b[:, 0] * scale, b[:, 1] * scale, b[:, 2] * scale
    if t[2] < 0:  # the ground must be in front of the camera
        r1, r2, t = -r1, -r2, -t
    r = np.column_stack([r1, r2, np.cross(r1, r2)])
    u, _, vt = np.linalg.svd(r)  # nearest rotation
    r = u @ vt
    centre = -r.T @ t
    if centre[2] < 0:  # world Z pointed down: flip so the height is positive
        centre = centre * np.array([1.0, 1.0, -1.0])
        r = r @ np.diag([1.0, 1.0, -1.0])
    return f, r, centre

"""Camera intrinsics and lens distortion from checkerboard frames, and bearings per pixel column.

``calibrate_images`` finds the inner corners of a checkerboard (``board`` = inner corners across x
down, e.g. 9x6) in every frame with OpenCV, refines them to sub-pixel and solves for the camera
matrix and the five distortion coefficients (k1, k2, p1, p2, k3) by ``cv2.calibrateCamera``.
The RMS reprojection error (px) says how well it fits; frames where the board is not found are
named. ``Azimuth`` gives the compass bearing seen by each image column of a fixed or PTZ forest
camera, so a fire alarm can carry a bearing a tower can triangulate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from carbonedge.calibration.errors import CalibrationInputError

__all__ = ["Azimuth", "Intrinsics", "calibrate_frames", "calibrate_images"]

MIN_BOARDS = 5


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera with distortion, for images of ``image_size_px`` (width, height).

    Attributes:
        camera_matrix: (3, 3) float64 [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] in px.
        dist_coeffs: (5,) float64 k1, k2, p1, p2, k3 (OpenCV's model).
        rms_error_px: RMS reprojection error of the board corners.
        frames_used / frames_rejected: names of the frames with and without a found board.
    """

    camera_matrix: NDArray[np.float64]
    dist_coeffs: NDArray[np.float64]
    image_size_px: tuple[int, int]
    rms_error_px: float
    frames_used: tuple[str, ...] = ()
    frames_rejected: tuple[str, ...] = ()

    @property
    def focal_px(self) -> tuple[float, float]:
        return float(self.camera_matrix[0, 0]), float(self.camera_matrix[1, 1])

    @property
    def principal_point_px(self) -> tuple[float, float]:
        return float(self.camera_matrix[0, 2]), float(self.camera_matrix[1, 2])

    @property
    def hfov_deg(self) -> float:
        """Horizontal field of view of the undistorted pinhole (degrees)."""
        fx, (cx, _) = self.focal_px[0], self.principal_point_px
        width = self.image_size_px[0]
        return math.degrees(math.atan(cx / fx) + math.atan((width - cx) / fx))

    def undistort_px(self, xy_px: NDArray) -> NDArray[np.float64]:
        """(N, 2) distorted pixels -> (N, 2) pixels of the same camera without distortion."""
        import cv2

        pts = np.asarray(xy_px, np.float64).reshape(-1, 1, 2)
        out = cv2.undistortPoints(pts, self.camera_matrix, self.dist_coeffs, P=self.camera_matrix)
        return out.reshape(-1, 2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the ``intrinsics`` field of a calibration record)."""
        return {
            "camera_matrix": self.camera_matrix.tolist(),
            "dist_coeffs": self.dist_coeffs.ravel().tolist(),
            "image_size_px": list(self.image_size_px),
            "rms_error_px": self.rms_error_px,
            "frames_used": list(self.frames_used),
            "frames_rejected": list(self.frames_rejected),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Intrinsics:
        try:
            k = np.asarray(data["camera_matrix"], np.float64)
            dist = np.asarray(data["dist_coeffs"], np.float64).ravel()
            size = (int(data["image_size_px"][0]), int(data["image_size_px"][1]))
            rms = float(data.get("rms_error_px", math.nan))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CalibrationInputError(f"intrinsics: missing or bad field ({exc})") from None
        if k.shape != (3, 3) or not np.isfinite(k).all() or k[0, 0] <= 0 or k[1, 1] <= 0:
            raise CalibrationInputError("intrinsics.camera_matrix: expected a 3x3 with fx, fy > 0")
        return cls(k, dist, size, rms, tuple(data.get("frames_used", ())),
                   tuple(data.get("frames_rejected", ())))  # fmt: skip


def calibrate_images(
    paths: Sequence[Path | str],
    *,
    board: tuple[int, int] = (9, 6),
    square_mm: float = 25.0,
    min_boards: int = MIN_BOARDS,
) -> Intrinsics:
    """Read the image files and calibrate (see ``calibrate_frames``); unreadable files are named."""
    import cv2

    frames, names = [], []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise CalibrationInputError(f"{path}: cannot read the image (missing or not an image)")
        frames.append(image)
        names.append(str(path))
    return calibrate_frames(frames, names, board=board, square_mm=square_mm, min_boards=min_boards)


def calibrate_frames(
    frames: Sequence[NDArray[np.uint8]],
    names: Sequence[str],
    *,
    board: tuple[int, int] = (9, 6),
    square_mm: float = 25.0,
    min_boards: int = MIN_BOARDS,
) -> Intrinsics:
    """Intrinsics from (H, W) or (H, W, 3) uint8 frames of one camera showing a checkerboard.

    Raises:
        CalibrationInputError: frames of different sizes, or the board found in fewer than
            ``min_boards`` frames (the message names the frames where it was not found).
    """
    import cv2

    if board[0] < 2 or board[1] < 2 or not square_mm > 0:
        raise CalibrationInputError(
            f"board must have at least 2x2 inner corners and square_mm > 0 (got {board[0]}x"
            f"{board[1]}, {square_mm})"
        )
    # Step 1: find and refine the corners in every frame.
    size_px: tuple[int, int] | None = None
    image_points, used, rejected = [], [], []
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 50, 1e-4)
    for frame, name in zip(frames, names, strict=True):
        gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        here = (gray.shape[1], gray.shape[0])
        if size_px is not None and here != size_px:
            raise CalibrationInputError(
                f"{name}: {here[0]}x{here[1]} differs from the first frame's "
                f"{size_px[0]}x{size_px[1]}: calibrate one camera mode at a time"
            )
        size_px = here
        flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
        found, corners = cv2.findChessboardCorners(gray, board, flags=flags)
        if not found:
            rejected.append(name)
            continue
        image_points.append(cv2.cornerSubPix(gray, corners, (5, 5), (-1, -1), criteria))
        used.append(name)
    if len(used) < min_boards:
        missing = ", ".join(rejected[:10]) + (" ..." if len(rejected) > 10 else "")
        raise CalibrationInputError(
            f"the {board[0]}x{board[1]} checkerboard was found in {len(used)} of {len(names)} "
            f"frames, need at least {min_boards}; not found in: {missing or '(no frames)'}"
        )
    assert size_px is not None
    # Step 2: solve for the camera matrix and distortion.
    grid = np.zeros((board[0] * board[1], 3), np.float32)
    grid[:, :2] = np.mgrid[0 : board[0], 0 : board[1]].T.reshape(-1, 2) * square_mm
    rms, k, dist, _, _ = cv2.calibrateCamera(
        [grid] * len(image_points), image_points, size_px, None, None
    )
    return Intrinsics(
        np.asarray(k, np.float64), np.asarray(dist, np.float64).ravel()[:5], size_px, float(rms),
        tuple(used), tuple(rejected),
    )  # fmt: skip


@dataclass(frozen=True)
class Azimuth:
    """Compass bearing of each image column of a level camera (forest tower, PTZ preset).

    ``heading_deg`` is the bearing of the optical axis (degrees clockwise from north, through the
    principal point ``cx_px``); ``focal_px`` the horizontal focal length. Columns are taken
    undistorted (use ``Intrinsics.undistort_px`` first for a wide lens)."""

    heading_deg: float
    focal_px: float
    cx_px: float

    def __post_init__(self) -> None:
        if not (
            math.isfinite(self.heading_deg) and self.focal_px > 0 and math.isfinite(self.cx_px)
        ):
            raise CalibrationInputError(
                f"azimuth: heading_deg must be finite and focal_px > 0 (got {self.heading_deg}, "
                f"{self.focal_px})"
            )

    @classmethod
    def from_hfov(cls, heading_deg: float, hfov_deg: float, width_px: int) -> Azimuth:
        """From the horizontal field of view of an image ``width_px`` wide (centred axis)."""
        if not 0 < hfov_deg < 180 or width_px < 1:
            raise CalibrationInputError(
                f"azimuth: hfov_deg must be in (0, 180) and width_px >= 1 (got {hfov_deg}, "
                f"{width_px})"
            )
        focal = (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(heading_deg, focal, width_px / 2.0)

    @classmethod
    def from_intrinsics(cls, heading_deg: float, intrinsics: Intrinsics) -> Azimuth:
        return cls(heading_deg, intrinsics.focal_px[0], intrinsics.principal_point_px[0])

    def azimuth_deg(self, column_px: float | NDArray) -> float | NDArray[np.float64]:
        """Bearing in [0, 360) of the ray through ``column_px`` (scalar or array)."""
        offset = np.degrees(
            np.arctan((np.asarray(column_px, np.float64) - self.cx_px) / self.focal_px)
        )
        out = np.mod(self.heading_deg + offset, 360.0)
        return float(out) if np.ndim(out) == 0 else out

    def to_dict(self) -> dict[str, float]:
        return {"heading_deg": self.heading_deg, "focal_px": self.focal_px, "cx_px": self.cx_px}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Azimuth:
        try:
            return cls(float(data["heading_deg"]), float(data["focal_px"]), float(data["cx_px"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationInputError(f"azimuth: missing or bad field ({exc})") from None

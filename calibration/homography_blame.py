"""Which measured point is wrong: the checks ``fit_ground_plane`` uses with few points.

Why leave-one-out cannot say it with 5 points: a homography has 8 unknowns, 4 point pairs fix it
exactly. Leaving one of 5 points out leaves 4, which any homography passes through; the 5
hypotheses "point k is wrong" each explain the data exactly, so the largest leave-one-out error
names whichever point the geometry amplifies most (a far point, in metres), not the wrong one.
Measured on 1000 random 5-point layouts seen by random pinhole cameras with one point moved 1.5 m:
the largest leave-one-out error named it 8.5 % of the time, less than a guess (20 %).

What can tell them apart is a constraint the homography does not have: a real camera. A CCTV
camera has square pixels, no skew and its principal point near the image centre, so its ground
homography has 7 free values (focal length, rotation, position), not 8. Four points (8 numbers)
then over-determine the camera by one: ``camera_fit`` fits that camera by least squares in pixels
and reports how far each point lies from it, in metres. With 5 points, each hypothesis "point k is
wrong" is judged by how well the other 4 fit one camera: the right one fits (up to the click
noise), the others do not. With 6 or more points no camera is needed: the other points of the
right hypothesis fit one homography (``others_rms_m``). The image size is needed for the camera
(its centre); without it, 4 points cannot be checked and 5 cannot name the wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from carbonedge.calibration.ground_plane import apply_homography, camera_from_homography

__all__ = ["Blame", "CameraFit", "blame_point", "camera_fit"]


@dataclass(frozen=True)
class CameraFit:
    """A pinhole camera (principal point at the image centre) fitted to N >= 4 point pairs.

    ``error_m``: (N,) distance in metres between each point's world position and where the
    camera's ground plane puts its pixel; ``error_px``: (N,) reprojection error in pixels.
    """

    focal_px: float
    height_m: float
    error_m: NDArray[np.float64]
    error_px: NDArray[np.float64]

    @property
    def rms_m(self) -> float:
        return float(np.sqrt(np.mean(self.error_m**2)))


def camera_fit(img: NDArray[np.float64], world: NDArray[np.float64],
               image_size_px: tuple[int, int]) -> CameraFit | None:  # fmt: skip
    """Least-squares camera (focal length, rotation, position) through the points; None when no
    camera looks at the ground that way (the points' homography gives no real focal length)."""
    import cv2
    from scipy.optimize import least_squares

    # Step 1: a start from the points' own homography (world -> image).
    w2i, _ = cv2.findHomography(world, img, 0)
    if w2i is None or not np.isfinite(w2i).all():
        return None
    try:
        focal, rotation, centre = camera_from_homography(w2i, image_size_px)
    except ValueError:
        return None
    rvec, _ = cv2.Rodrigues(rotation)
    x0 = np.concatenate([[np.log(focal)], rvec.ravel(), -rotation @ centre])
    cx, cy = image_size_px[0] / 2.0, image_size_px[1] / 2.0
    ground = np.column_stack([world, np.zeros(len(world))])

    def project(x: NDArray[np.float64]) -> NDArray[np.float64]:
        r, _ = cv2.Rodrigues(x[1:4])
        cam = ground @ r.T + x[4:7]
        return np.exp(x[0]) * cam[:, :2] / cam[:, 2:3] + (cx, cy)

    # Step 2: refine all 7 values on the pixel errors (clicks err in pixels).
    x = least_squares(lambda v: (project(v) - img).ravel(), x0, method="lm").x
    r, _ = cv2.Rodrigues(x[1:4])
    f = float(np.exp(x[0]))
    k = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    cam_w2i = k @ np.column_stack([r[:, 0], r[:, 1], x[4:7]])
    # Step 3: each point's error on the ground, through the fitted camera's own plane.
    try:
        cam_i2w = np.linalg.inv(cam_w2i)
    except np.linalg.LinAlgError:
        return None
    error_m = np.linalg.norm(apply_homography(cam_i2w, img) - world, axis=1)
    error_px = np.linalg.norm(project(x) - img, axis=1)
    height = float(abs((-r.T @ x[4:7])[2]))
    return CameraFit(f, height, error_m, error_px)


def others_rms_m(img: NDArray[np.float64], world: NDArray[np.float64], k: int) -> float:
    """RMS ground error (m) of the least-squares homography of every point but ``k``, over them."""
    import cv2

    keep = np.arange(len(img)) != k
    h, _ = cv2.findHomography(img[keep], world[keep], 0)
    if h is None or not np.isfinite(h).all():
        return float("inf")
    err = np.linalg.norm(apply_homography(h, img[keep]) - world[keep], axis=1)
    return float(np.sqrt(np.mean(err**2)))


#: The best hypothesis is named alone when the next best is this many times worse (and more than
#: ``_CLEAR_PX`` px or ``_CLEAR_M`` m worse): a clear winner, not a coin toss between two.
_CLEAR_RATIO = 3.0
_CLEAR_PX = 1.0
_CLEAR_M = 0.05


@dataclass(frozen=True)
class Blame:
    """Each point's hypothesis "this point alone is wrong", judged by how well the others agree
    without it (points numbered from 0 here, from 1 in ``text``).

    ``scores[k]``: RMS misfit of the other points without point k: pixels to one camera (5
    points, ``unit`` "px") or metres to one homography (6 or more, "m"); inf: no fit.
    ``ranked``: the points, most likely wrong first; ``clear``: the first is a clear winner.
    """

    scores: tuple[float, ...]
    unit: str
    ranked: tuple[int, ...]
    clear: bool

    def text(self) -> str:
        """The technician's sentence (points numbered from 1)."""
        best, *rest = self.ranked
        what = "the other 4 fit one camera" if self.unit == "px" else "the other points agree"
        s = self.scores
        if self.clear:
            return (
                f"re-measure point {best + 1}: without it {what} ({s[best]:.2f} {self.unit}), "
                f"without any other point they do not (>= {s[rest[0]]:.2f} {self.unit})"
            )
        close = [k for k in rest if s[k] <= _CLEAR_RATIO * s[best] + self._margin()][:2]
        others = ", ".join(f"{k + 1} ({s[k]:.2f} {self.unit})" for k in close)
        return (
            f"most likely point {best + 1} ({s[best]:.2f} {self.unit} without it), but "
            f"{'point ' + others if others else 'another point'} would explain it almost as "
            f"well: with {len(s)} points one wrong point cannot be told apart for sure; "
            "re-measure those, or measure more points"
        )

    def _margin(self) -> float:
        return _CLEAR_PX if self.unit == "px" else _CLEAR_M


def blame_point(img: NDArray[np.float64], world: NDArray[np.float64],
                image_size_px: tuple[int, int] | None) -> Blame | None:  # fmt: skip
    """Rank the points by how well the others agree without each (``Blame``).

    5 points: the other 4 against one camera (needs ``image_size_px``; None without it).
    6 or more: the other points against one homography. Fewer than 5: None.
    """
    n = len(img)
    if n < 5 or (n == 5 and image_size_px is None):
        return None
    scores = []
    for k in range(n):
        if n == 5:
            keep = np.arange(n) != k
            fit = camera_fit(img[keep], world[keep], image_size_px)  # type: ignore[arg-type]
            scores.append(float(np.sqrt(np.mean(fit.error_px**2))) if fit else float("inf"))
        else:
            scores.append(others_rms_m(img, world, k))
    ranked = tuple(sorted(range(n), key=lambda k: scores[k]))
    unit = "px" if n == 5 else "m"
    best, second = scores[ranked[0]], scores[ranked[1]]
    margin = _CLEAR_PX if unit == "px" else _CLEAR_M
    clear = np.isfinite(best) and second > _CLEAR_RATIO * best + margin
    return Blame(tuple(scores), unit, ranked, bool(clear))

"""Ground-plane homography fitted from a technician's measured points, with checks that say yes/no.

``fit_ground_plane`` takes N >= 4 pairs (image pixel, ground metres), finds the outliers with
RANSAC in world metres, refits the inliers by least squares and reports, for every point, its
world-space error, its image-space error and its leave-one-out error (the error at that point of a
fit that did not see it: a point the fit merely passes through shows up here). The verdict is
"pass" only when the fit is checked, has no outliers, and both the inlier RMS and the worst
leave-one-out error are within bounds. Points are numbered from 1 in messages (the row in the
technician's table).

Few points (``homography_blame.py`` says why): 4 points fix a homography exactly, so they are
checked against the one thing they can still disagree with, a real camera (square pixels, principal
point at the image centre; needs the image size). With 5 points RANSAC and leave-one-out cannot
name a wrong point (every 4 of them fit some homography exactly), so RANSAC is skipped and a
failing fit names the point without which the other 4 fit one camera; from 6 points on, the point
without which the others agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from carbonedge.calibration.errors import CalibrationInputError
from carbonedge.calibration.ground_plane import GroundPlane, GroundPlaneConfig, apply_homography
from carbonedge.calibration.homography_blame import blame_point, camera_fit

__all__ = ["HomographyFit", "fit_ground_plane"]

_MIN_POINTS = 4
_COLLINEAR_RATIO = 1e-3  # second/first singular value of the centred points below this: a line
_GRID_MAX_LINES = 100  # per axis
_SMALL_SET = 8  # up to this many points, one wrong point is searched for exhaustively


@dataclass(frozen=True)
class HomographyFit:
    """The result of ``fit_ground_plane``; arrays have one row per input point (N).

    Attributes:
        matrix: (3, 3) float64, image (x, y, 1) px -> ground (X, Y, 1) m, normalised ``[2, 2] = 1``.
        image_px, world_m: (N, 2) float64, the input pairs.
        inliers: (N,) bool, the points RANSAC kept (the final fit uses only these).
        per_point_error_m: (N,) float64, |H(image) - world| in metres, every point.
        per_point_error_px: (N,) float64, |G(world) - image| in pixels, every point, where G is
            the least-squares world -> image fit of the inliers (it minimises pixel errors).
        loo_error_m: (N,) float64, error of each point for a fit on the other inliers (NaN when
            fewer than 4 points would remain).
        rms_error_m, rms_error_px: RMS over the inliers.
        noise_px: estimate of the pixel noise of the clicks, sqrt(sum r_px^2 / (2 n - 8)) over the
            n inliers (the fit uses 8 degrees of freedom); NaN with 4 inliers.
        verdict: "pass" or "fail"; reason: why it fails ("" on pass).
        note: what the verdict rests on when it is weaker than usual (4 points: the camera check).
    """

    matrix: NDArray[np.float64]
    image_px: NDArray[np.float64]
    world_m: NDArray[np.float64]
    inliers: NDArray[np.bool_]
    per_point_error_m: NDArray[np.float64]
    per_point_error_px: NDArray[np.float64]
    loo_error_m: NDArray[np.float64]
    rms_error_m: float
    rms_error_px: float
    noise_px: float
    verdict: str
    reason: str
    image_size_px: tuple[int, int] | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def ground_plane(self) -> GroundPlane:
        return GroundPlane(self.matrix)

    def ground_plane_config(self) -> GroundPlaneConfig:
        """The fitted matrix as a site/record ``ground_plane`` entry."""
        return GroundPlaneConfig(image_to_world=tuple(tuple(map(float, r)) for r in self.matrix))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lists of floats, NaN as None."""
        return {
            "matrix": _json(self.matrix),
            "image_px": _json(self.image_px),
            "world_m": _json(self.world_m),
            "inliers": [bool(b) for b in self.inliers],
            "per_point_error_m": _json(self.per_point_error_m),
            "per_point_error_px": _json(self.per_point_error_px),
            "loo_error_m": _json(self.loo_error_m),
            "rms_error_m": _json(self.rms_error_m),
            "rms_error_px": _json(self.rms_error_px),
            "noise_px": _json(self.noise_px),
            "verdict": self.verdict,
            "reason": self.reason,
            "image_size_px": list(self.image_size_px) if self.image_size_px else None,
            "thresholds": dict(self.thresholds),
            "note": self.note,
        }

    def grid_px(
        self, image_size_px: tuple[int, int], spacing_m: float = 1.0
    ) -> list[list[tuple[float, float]]]:
        """Polylines (pixels) of a metric ground grid around the inlier points, for an overlay.

        Lines of constant X and of constant Y every ``spacing_m`` metres (coarser if that would
        give more than 100 lines per axis) over the inliers' extent plus 25 %, cut to the image
        and to points in front of the camera."""
        if not spacing_m > 0:
            raise CalibrationInputError(f"grid spacing_m must be > 0 (got {spacing_m})")
        width, height = image_size_px
        pts = self.world_m[self.inliers]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        margin = 0.25 * (hi - lo)
        lo, hi = lo - margin, hi + margin
        step = max(spacing_m, float((hi - lo).max()) / _GRID_MAX_LINES)
        to_image = np.linalg.inv(self.matrix)
        front = np.sign(_w(to_image, pts).mean())  # the side of the horizon the ground is on
        lines = []
        for axis in (0, 1):
            other = 1 - axis
            for value in np.arange(math.ceil(lo[axis] / step) * step, hi[axis] + 1e-9, step):
                world = np.empty((64, 2))
                world[:, axis] = value
                world[:, other] = np.linspace(lo[other], hi[other], 64)
                px = apply_homography(to_image, world)
                ok = (_w(to_image, world) * front > 0) & np.isfinite(px).all(axis=1)
                ok &= (px[:, 0] >= -1) & (px[:, 0] <= width + 1)
                ok &= (px[:, 1] >= -1) & (px[:, 1] <= height + 1)
                lines.extend(_runs(px, ok))
        return lines


def fit_ground_plane(
    image_px: Any,
    world_m: Any,
    *,
    image_size_px: tuple[int, int] | None = None,
    ransac_threshold_m: float = 0.5,
    pass_rms_m: float = 0.5,
    pass_loo_m: float | None = None,
) -> HomographyFit:
    """Fit image px -> ground m from N >= 4 pairs and judge the fit.

    Args:
        image_px: (N, 2) pixels (x right, y down). world_m: (N, 2) ground metres, any metric frame.
        image_size_px: (width, height); when given, every pixel must lie inside the image.
        ransac_threshold_m: a point further than this from the RANSAC fit is an outlier.
        pass_rms_m: largest inlier RMS error that passes.
        pass_loo_m: largest leave-one-out error that passes (default ``2 * pass_rms_m``).

    Raises:
        CalibrationInputError: fewer than 4 pairs, mismatched or non-finite values, pixels
            outside the image, collinear or coincident points, no homography fits.
    """
    img, world = _validate(image_px, world_m, image_size_px)
    pass_loo_m = 2.0 * pass_rms_m if pass_loo_m is None else pass_loo_m
    # Step 1: RANSAC in world metres finds the outliers (with 4 or 5 points every point is an
    # inlier: with 5, each 4 fit exactly and RANSAC's pick among them is arbitrary).
    inliers = np.ones(len(img), bool)
    if len(img) > _MIN_POINTS + 1:
        inliers = _single_outlier(img, world, ransac_threshold_m)
        if inliers is None:
            inliers = _ransac_inliers(img, world, ransac_threshold_m)
    # Step 2: least-squares refit on the inliers, then re-judge every point against that fit
    # (the refit is better than RANSAC's sample, so the inlier set may change; twice at most;
    # not with 4 or 5 points, where any 4 fit exactly and dropping one proves nothing).
    for _ in range(3):
        matrix = _refit(img, world, inliers)
        err_m = np.linalg.norm(apply_homography(matrix, img) - world, axis=1)
        agree = err_m <= ransac_threshold_m
        if len(img) <= _MIN_POINTS + 1 or (agree == inliers).all() or agree.sum() < _MIN_POINTS:
            break
        inliers = agree
    # Step 3: errors of every point, in metres and pixels, and leave-one-out.
    # pixel errors from the fit that minimises them (world -> image): clicks err in pixels
    to_image = _least_squares(world[inliers], img[inliers])
    to_image = np.linalg.inv(matrix) if to_image is None else to_image
    err_px = np.linalg.norm(apply_homography(to_image, world) - img, axis=1)
    loo = _leave_one_out(img, world, inliers, err_m)
    n_in = int(inliers.sum())
    rms_m = float(np.sqrt(np.mean(err_m[inliers] ** 2)))
    rms_px = float(np.sqrt(np.mean(err_px[inliers] ** 2)))
    noise = float(np.sqrt(np.sum(err_px[inliers] ** 2) / (2 * n_in - 8))) if n_in > 4 else math.nan
    # Step 4: the verdict.
    size = tuple(image_size_px) if image_size_px else None
    if len(img) == _MIN_POINTS:
        reason, note = _four_point_check(img, world, size, pass_rms_m, pass_loo_m)
    else:
        note = ""
        reason = _fail_reason(err_m, inliers, loo, rms_m, ransac_threshold_m, pass_rms_m,
                              pass_loo_m)  # fmt: skip
        if reason and inliers.all():  # no outlier to name: which point would explain it?
            reason += "; " + _blame_text(img, world, size)
    return HomographyFit(
        matrix=matrix,
        image_px=img,
        world_m=world,
        inliers=inliers,
        per_point_error_m=err_m,
        per_point_error_px=err_px,
        loo_error_m=loo,
        rms_error_m=rms_m,
        rms_error_px=rms_px,
        noise_px=noise,
        verdict="fail" if reason else "pass",
        reason=reason,
        image_size_px=size,  # type: ignore[arg-type]
        note=note,
        thresholds={
            "ransac_threshold_m": float(ransac_threshold_m),
            "pass_rms_m": float(pass_rms_m),
            "pass_loo_m": float(pass_loo_m),
        },
    )


def _validate(
    image_px: Any, world_m: Any, image_size_px: tuple[int, int] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    try:
        img = np.asarray(image_px, np.float64).reshape(-1, 2)
        world = np.asarray(world_m, np.float64).reshape(-1, 2)
    except (TypeError, ValueError) as exc:
        raise CalibrationInputError(f"point pairs must be (x, y) numbers: {exc}") from None
    if len(img) != len(world):
        raise CalibrationInputError(
            f"got {len(img)} image points but {len(world)} world points: give one of each per pair"
        )
    if len(img) < _MIN_POINTS:
        raise CalibrationInputError(
            f"a ground-plane homography needs at least 4 point pairs (got {len(img)})"
        )
    for name, arr in (("image_px", img), ("world_m", world)):
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        if bad.size:
            raise CalibrationInputError(
                f"point {bad[0] + 1}: {name} {tuple(arr[bad[0]])} is not a finite number"
            )
    if image_size_px is not None:
        width, height = image_size_px
        outside = (img[:, 0] < 0) | (img[:, 0] > width) | (img[:, 1] < 0) | (img[:, 1] > height)
        for i in np.flatnonzero(outside):
            raise CalibrationInputError(
                f"point {i + 1}: image_px ({img[i, 0]:g}, {img[i, 1]:g}) is outside the "
                f"{width}x{height} image"
            )
    for name, arr in (("image_px", img), ("world_m", world)):
        _check_spread(arr, name, "the points")
    return img, world


def _check_spread(points: NDArray[np.float64], name: str, which: str) -> None:
    """Raise when the points are (nearly) on one line, coincide, or 4 of them have 3 collinear."""
    for i, j in combinations(range(len(points)), 2):
        if np.allclose(points[i], points[j], rtol=0, atol=1e-9):
            raise CalibrationInputError(f"points {i + 1} and {j + 1} have the same {name}")
    centred = points - points.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    if s[1] <= _COLLINEAR_RATIO * s[0]:
        raise CalibrationInputError(
            f"{which}' {name} all lie on one line: a homography needs points spread over the "
            "ground (no line through all of them)"
        )
    if len(points) == _MIN_POINTS:
        scale = float(s[0] ** 2)
        for tri in combinations(range(4), 3):
            a, b, c = points[list(tri)]
            area = abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))
            if area <= _COLLINEAR_RATIO * scale:
                raise CalibrationInputError(
                    f"points {', '.join(str(k + 1) for k in tri)} ({name}) are on one line: with "
                    "4 points no three may be collinear"
                )


def _refit(
    img: NDArray[np.float64], world: NDArray[np.float64], inliers: NDArray[np.bool_]
) -> NDArray[np.float64]:
    _check_spread(img[inliers], "image_px", "the inliers")
    _check_spread(world[inliers], "world_m", "the inliers")
    matrix = _least_squares(img[inliers], world[inliers])
    if matrix is None:
        raise CalibrationInputError(
            f"the {int(inliers.sum())} inlier points do not determine a homography "
            "(are most of them on one line?)"
        )
    return matrix


def _least_squares(img: NDArray[np.float64], world: NDArray[np.float64]) -> NDArray | None:
    import cv2

    h, _ = cv2.findHomography(img, world, 0)
    if h is None or not np.isfinite(h).all() or abs(h[2, 2]) < 1e-15:
        return None
    h = h / h[2, 2]
    if abs(np.linalg.det(h)) < 1e-15 or np.linalg.cond(h) > 1e12:
        return None
    return h


def _single_outlier(img: NDArray[np.float64], world: NDArray[np.float64],
                    threshold_m: float) -> NDArray[np.bool_] | None:  # fmt: skip
    """6 to 8 points: every point but one, when the others clearly agree without it and it lies
    beyond ``threshold_m`` from their fit; None to leave it to RANSAC. (RANSAC in metres can
    keep a wrong far point and drop a good one: a far point's error shrinks in the fit.)"""
    if len(img) > _SMALL_SET:
        return None
    blame = blame_point(img, world, None)
    if blame is None or not blame.clear:
        return None
    k = blame.ranked[0]
    keep = np.arange(len(img)) != k
    h = _least_squares(img[keep], world[keep])
    if h is None:
        return None
    if np.linalg.norm(apply_homography(h, img[k : k + 1])[0] - world[k]) <= threshold_m:
        return None
    return keep


def _ransac_inliers(
    img: NDArray[np.float64], world: NDArray[np.float64], threshold_m: float
) -> NDArray[np.bool_]:
    import cv2

    h, mask = cv2.findHomography(
        img, world, cv2.RANSAC, ransacReprojThreshold=float(threshold_m), maxIters=5000,
        confidence=0.999,
    )  # fmt: skip
    if h is None or mask is None:
        raise CalibrationInputError(
            "no homography fits 4 or more of the points within "
            f"ransac_threshold_m={threshold_m}: check the point pairs"
        )
    inliers = mask.ravel().astype(bool)
    if inliers.sum() < _MIN_POINTS:
        raise CalibrationInputError(
            f"only {int(inliers.sum())} points agree within ransac_threshold_m={threshold_m}"
        )
    return inliers


def _leave_one_out(
    img: NDArray[np.float64],
    world: NDArray[np.float64],
    inliers: NDArray[np.bool_],
    err_m: NDArray[np.float64],
) -> NDArray[np.float64]:
    loo = np.full(len(img), np.nan)
    for i in range(len(img)):
        if not inliers[i]:
            loo[i] = err_m[i]  # the final fit already omits an outlier
            continue
        keep = inliers.copy()
        keep[i] = False
        if keep.sum() < _MIN_POINTS:
            continue
        h = _least_squares(img[keep], world[keep])
        if h is not None:
            loo[i] = float(np.linalg.norm(apply_homography(h, img[i : i + 1])[0] - world[i]))
    return loo


def _four_point_check(
    img: NDArray[np.float64], world: NDArray[np.float64], size: tuple[int, int] | None,
    pass_rms_m: float, pass_loo_m: float,
) -> tuple[str, str]:  # fmt: skip
    """(reason, note) for exactly 4 points: only a camera can disagree with them."""
    if size is None:
        return ("4 points determine the homography exactly, so its error cannot be checked: "
                "give the image size (checks them against a camera) or measure at least 5 "
                "points"), ""  # fmt: skip
    cam = camera_fit(img, world, size)
    if cam is None:
        return ("the 4 points fit no camera looking at a flat road (no real focal length): "
                "re-measure them, or measure more points"), ""  # fmt: skip
    worst = int(np.argmax(cam.error_m))
    note = (f"4 points: checked against one camera only (square pixels, principal point at the "
            f"image centre; focal length {cam.focal_px:.0f} px, {cam.height_m:.1f} m above the "
            f"road), RMS {cam.rms_m:.3f} m; a 5th point checks the fit itself")  # fmt: skip
    if cam.rms_m > pass_rms_m or cam.error_m[worst] > pass_loo_m:
        return (f"the 4 points disagree with any camera: RMS {cam.rms_m:.2f} m, point "
                f"{worst + 1} {cam.error_m[worst]:.2f} m off (bounds pass_rms_m={pass_rms_m:g}, "
                f"pass_loo_m={pass_loo_m:g}); with 4 points the wrong one cannot be named: "
                "measure a 5th and 6th"), note  # fmt: skip
    return "", note


def _blame_text(img: NDArray[np.float64], world: NDArray[np.float64],
                size: tuple[int, int] | None) -> str:  # fmt: skip
    blame = blame_point(img, world, size)
    if blame is None:
        return (
            "with 5 points the wrong one can only be named with the image size "
            "(checks them against a camera): give it, or measure a 6th point"
        )
    return blame.text()


def _fail_reason(
    err_m: NDArray[np.float64],
    inliers: NDArray[np.bool_],
    loo: NDArray[np.float64],
    rms_m: float,
    ransac_threshold_m: float,
    pass_rms_m: float,
    pass_loo_m: float,
) -> str:
    outliers = np.flatnonzero(~inliers)
    if outliers.size:
        listed = ", ".join(f"{i + 1} ({err_m[i]:.2f} m)" for i in outliers)
        return (
            f"outliers beyond ransac_threshold_m={ransac_threshold_m:g}: point {listed}; "
            "re-measure or remove them"
        )
    if rms_m > pass_rms_m:
        return f"RMS error {rms_m:.3f} m is over pass_rms_m={pass_rms_m:g}"
    if np.isfinite(loo).any() and np.nanmax(loo) > pass_loo_m:
        worst = int(np.nanargmax(loo))
        return (
            f"the fit moves {loo[worst]:.2f} m at point {worst + 1} when that point is left out "
            f"(over pass_loo_m={pass_loo_m:g}): the points disagree, or too few are near it"
        )
    return ""


def _w(h: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    return h[2, 0] * xy[:, 0] + h[2, 1] * xy[:, 1] + h[2, 2]


def _runs(px: NDArray[np.float64], ok: NDArray[np.bool_]) -> list[list[tuple[float, float]]]:
    """Split a sampled polyline into runs of consecutive ``ok`` points (>= 2 points each)."""
    runs, current = [], []
    for p, good in zip(px, ok, strict=True):
        if good:
            current.append((round(float(p[0]), 2), round(float(p[1]), 2)))
        else:
            if len(current) >= 2:
                runs.append(current)
            current = []
    if len(current) >= 2:
        runs.append(current)
    return runs


def _json(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_json(v) for v in value.tolist()]
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value

"""Scene knowledge for the fire monitor: sky/horizon, exclusion masks, border, bearing.

Smoke of a forest fire rises from the terrain; clouds, contrails and sun glare live in the sky. The
horizon row of every image column is estimated automatically from the first frame (sky is smooth,
bright or bluish and touches the top of the image; dark fisheye corners and burned-in text strips
above it are skipped), or taken from the technician's sky mask when calibration provides one.
A camera's calibration record (``SceneCalibration``) may bring the sky and exclusion polygons and
a per-column azimuth. A candidate may start a smoke alarm only when its bottom edge is at most
``horizon_margin_frac`` of the frame height above the horizon of its columns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import median_filter

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.vision.fire.config import SceneConfig

logger = logging.getLogger(__name__)

_DARK_LEVELS = 25.0  # fisheye corners, letterbox bars, overlay strips
_SKY_GRADIENT_LEVELS = 4.0  # blurred luma gradient (levels/px at work scale) below this is smooth


def load_mask(path: str, shape_hw: tuple[int, int]) -> NDArray[np.bool_]:
    """Non-zero pixels of the image at ``path``, resized (nearest) to ``shape_hw``."""
    image = cv2.imread(str(Path(path).expanduser()), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise ConfigError(f"{path}: cannot read the mask image (missing or not an image file)")
    if image.shape != shape_hw:
        image = cv2.resize(image, (shape_hw[1], shape_hw[0]), interpolation=cv2.INTER_NEAREST)
    return image > 0


def estimate_horizon(bgr: NDArray[np.uint8]) -> NDArray[np.int32]:
    """(W,) int32 first terrain row of each column of an (H, W, 3) uint8 BGR image.

    0 means no sky in that column (all terrain), H means all sky. It errs toward terrain (a
    missed sky only costs the cloud filter, a missed terrain would hide smoke). Steps: 1. luma and
    its blurred gradient; 2. each pixel votes +1 when sky-like (smooth, and bluish or bright), -1
    when not, 0 when dark (fisheye corners, overlay strips); votes are averaged over a few
    neighbouring columns; 3. per column, the horizon is the row that maximises the votes above it
    minus the votes below it (the best split into sky over terrain, robust to cloud texture in the
    sky and to smooth patches on the ground), capped by the first non-sky row; 4. a median across
    columns removes masts and tree tops.
    """
    h, w = bgr.shape[:2]
    img = bgr.astype(np.float32)
    luma = cv2.GaussianBlur(img @ np.float32([0.114, 0.587, 0.299]), (0, 0), 1.5)
    grad = np.abs(cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3)) + np.abs(
        cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3)
    )
    grad = cv2.blur(grad / 8.0, (5, 5))
    bluish = img[:, :, 0] >= img[:, :, 2] - 5.0
    sky_like = (grad < _SKY_GRADIENT_LEVELS) & (bluish | (luma > 170.0))
    votes = np.where(sky_like, 1.0, -1.0).astype(np.float32)
    votes[luma < _DARK_LEVELS] = 0.0
    votes = cv2.blur(votes, (9, 1))
    score = np.vstack([np.zeros((1, w), np.float32), np.cumsum(votes, axis=0)])  # (H + 1, W)
    best_split = np.argmax(score, axis=0)
    # the best split may swallow hazy distant ridges (smooth and bluish, where far smoke shows
    # first); the first non-sky row below the top stops there: take the higher of the two
    rows = np.arange(h)[:, None]
    non_sky = (votes < 0) & (rows >= int(0.03 * h))
    first_non_sky = np.where(non_sky.any(axis=0), np.argmax(non_sky, axis=0), h)
    horizon = np.minimum(best_split, first_non_sky)
    k = max(3, (w // 40) | 1)
    return median_filter(horizon, size=k, mode="nearest").astype(np.int32)


class SceneCalibration(Protocol):
    """A camera's calibration record as the scene uses it (``calibration.masks.SourceMasks``):
    masks at a frame size (None: not calibrated) and the bearing of a pixel."""

    def sky(self, shape_hw: tuple[int, int]) -> NDArray[np.bool_] | None: ...

    def exclusion(self, shape_hw: tuple[int, int]) -> NDArray[np.bool_] | None: ...

    def bearing_deg(self, x_px: float, y_px: float, shape_hw: tuple[int, int]) -> float | None: ...


@dataclass
class Scene:
    """Per-camera scene masks at one frame size.

    Attributes:
        shape_hw: frame size the masks refer to.
        horizon_row: (W,) int32 first terrain row per column.
        excluded: (H, W) bool, True where candidates are ignored (technician masks, border).
        sky: (H, W) bool, True above the horizon.
        calibration: the camera's calibration record (bearings), or None.
    """

    shape_hw: tuple[int, int]
    horizon_row: NDArray[np.int32]
    excluded: NDArray[np.bool_]
    config: SceneConfig
    calibration: SceneCalibration | None = None

    @property
    def sky(self) -> NDArray[np.bool_]:
        rows = np.arange(self.shape_hw[0])[:, None]
        return rows < self.horizon_row[None, :]

    @classmethod
    def build(
        cls,
        bgr: NDArray[np.uint8],
        config: SceneConfig,
        calibration: SceneCalibration | None = None,
    ) -> Scene:
        """Scene of a camera from one (H, W, 3) frame, the config's masks and the camera's
        calibration record: its sky polygon replaces ``sky_mask_path`` and the automatic horizon,
        its exclusion polygons add to ``exclusion_mask_paths``, its azimuth gives bearings."""
        h, w = bgr.shape[:2]
        sky = calibration.sky((h, w)) if calibration is not None else None
        if sky is None and config.sky_mask_path:
            sky = load_mask(config.sky_mask_path, (h, w))
        if sky is not None:
            # horizon = first non-sky row from the top in each column
            horizon = np.where((~sky).any(axis=0), np.argmax(~sky, axis=0), h).astype(np.int32)
        elif config.auto_sky:
            horizon = estimate_horizon(bgr)
        else:
            horizon = np.zeros(w, np.int32)
        excluded = np.zeros((h, w), np.bool_)
        for path in config.exclusion_mask_paths:
            excluded |= load_mask(path, (h, w))
        recorded = calibration.exclusion((h, w)) if calibration is not None else None
        if recorded is not None:
            excluded |= recorded
        b = max(6, int(round(config.border_frac * min(h, w))))  # shake and warp edges
        if b > 0:
            excluded[:b] = excluded[-b:] = True
            excluded[:, :b] = excluded[:, -b:] = True
        return cls((h, w), horizon, excluded, config, calibration)

    def band_rows(self) -> tuple[int, int] | None:
        """Frame rows ``(y0, y1)`` of the band around the horizon where a distant plume starts:
        from ``band_above_frac`` above the 10th percentile of the horizon (columns with sky and
        terrain) to ``band_below_frac`` below its 90th, at most ``band_max_frac`` high (keeping
        the lower end: the estimate errs toward terrain, so the true horizon is lower if
        anything); None when no column shows both sky and terrain."""
        h = self.shape_hw[0]
        rows = self.horizon_row[(self.horizon_row > 0) & (self.horizon_row < h)]
        if rows.size == 0:
            return None
        c = self.config
        y1 = min(h, int(np.percentile(rows, 90) + c.band_below_frac * h))
        y0 = max(0, int(np.percentile(rows, 10) - c.band_above_frac * h))
        y0 = max(y0, y1 - int(c.band_max_frac * h))
        return (y0, y1) if y1 - y0 >= 8 else None

    def origin_on_terrain(self, xyxy: NDArray[np.float32] | tuple[float, ...]) -> bool:
        """Whether the box's bottom edge is at most the margin above the horizon of its columns."""
        h, w = self.shape_hw
        x1 = int(np.clip(np.floor(xyxy[0]), 0, w - 1))
        x2 = int(np.clip(np.ceil(xyxy[2]), x1 + 1, w))
        horizon = float(np.max(self.horizon_row[x1:x2]))
        return float(xyxy[3]) >= horizon - self.config.horizon_margin_frac * h

    def excluded_fraction(self, xyxy: NDArray[np.float32] | tuple[float, ...]) -> float:
        """Fraction of the box's pixels that are excluded (masks, border)."""
        h, w = self.shape_hw
        x1, y1 = int(max(0, np.floor(xyxy[0]))), int(max(0, np.floor(xyxy[1])))
        x2, y2 = int(min(w, np.ceil(xyxy[2]))), int(min(h, np.ceil(xyxy[3])))
        if x2 <= x1 or y2 <= y1:
            return 1.0
        return float(self.excluded[y1:y2, x1:x2].mean())

    def bearing_deg(self, x_px: float, y_px: float | None = None) -> float | None:
        """Bearing of pixel (x, y): from the calibration record's azimuth when it has one, else
        linear in x across ``hfov_deg`` when configured, else None."""
        if self.calibration is not None:
            y = self.shape_hw[0] / 2 if y_px is None else y_px
            bearing = self.calibration.bearing_deg(x_px, y, self.shape_hw)
            if bearing is not None:
                return bearing
        c = self.config
        if c.azimuth_center_deg is None or c.hfov_deg is None:
            return None
        return float((c.azimuth_center_deg + (x_px / self.shape_hw[1] - 0.5) * c.hfov_deg) % 360)

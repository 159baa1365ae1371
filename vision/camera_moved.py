"""Camera-moved check: has the view shifted or rotated since the calibration snapshot?

Counting lines, zones and the ground plane are drawn in pixels of the calibration snapshot; a
camera knocked by a few pixels silently counts on the wrong lines. Every ``check_every_s`` the
live frame is compared with the reference on a downscaled grey image:

1. both become gradient fields (blur, Sobel) at ``work_width_px``;
2. the compiled kernel scores, per tile of a grid, the edge agreement (cosine similarity of the
   gradients) for every shift up to ``search_px`` (``kernels.tile_shift_scores``);
3. a motion model (translation + roll about the image centre) is fitted to all tiles at once by a
   coarse grid search and a sub-pixel refinement on the spline-interpolated score surfaces (tiles
   that only see a straight lane marking constrain only one direction; together they resolve it);
4. the check is ``shifted`` when the model moves some tile by ``moved_threshold_px`` (full
   resolution) and explains the live edges better than "no motion" by ``min_gain``; ``mismatch``
   when no shift matches at all (``min_score``); ``indeterminate`` on a dark or featureless frame.

Traffic, lighting drift and sensor noise lower the score of every shift alike and leave the peak
in place; a frame or two of glitches is absorbed by persistence: ``suspect`` on the first moved
check, ``moved`` after ``confirm_checks`` in a row, back to ``ok`` after ``clear_checks`` still
checks in a row. ``camera_moved_stage`` runs it in the pipeline (events, health, summaries).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from carbonedge.kernels.camera_moved import tile_shift_scores

logger = logging.getLogger(__name__)

__all__ = ["CameraMovedCheck", "CameraMovedConfig", "CheckResult", "MovedState"]

MovedState = Literal["ok", "suspect", "moved"]
Verdict = Literal["still", "shifted", "mismatch", "indeterminate"]


class CameraMovedConfig(BaseModel):
    """One source's camera-moved check (``camera_moved: {source_id: ...}`` in the site config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference_image: Path | None = Field(
        None, description="reference view; default: the source's calibration snapshot"
    )
    check_every_s: float = Field(
        5.0,
        gt=0.0,
        le=3600.0,
        description="time between two comparisons with the reference view",
    )
    work_width_px: int = Field(320, ge=64, le=1920, description="frames are downscaled to this")
    search_px: float = Field(12.0, gt=0.0, le=128.0, description="largest shift, full resolution")
    max_rotation_deg: float = Field(3.0, ge=0.0, le=10.0, description="largest roll searched for")
    tiles_x: int = Field(
        4,
        ge=1,
        le=16,
        description="tiles across the image that are matched against the reference",
    )
    tiles_y: int = Field(
        3,
        ge=1,
        le=16,
        description="tiles down the image that are matched against the reference",
    )
    moved_threshold_px: float = Field(
        1.5, gt=0.0, description="a tile displaced this much (full resolution) means moved"
    )
    min_gain: float = Field(0.02, ge=0.0, le=1.0, description="score gain of the move over none")
    min_score: float = Field(0.15, ge=0.0, le=1.0, description="below: the view no longer matches")
    min_edge_ratio: float = Field(
        0.1, gt=0.0, le=1.0, description="live edge energy below this share of the reference's: "
        "dark or blurred frame, no verdict"
    )  # fmt: skip
    confirm_checks: int = Field(3, ge=1, le=100, description="moved checks in a row: moved")
    clear_checks: int = Field(5, ge=1, le=100, description="still checks in a row: ok again")


@dataclass(frozen=True)
class CheckResult:
    """One comparison with the reference; shifts in full-resolution pixels."""

    t_s: float
    verdict: Verdict
    shift_px: tuple[float, float]  # (dx, dy) of the view at the image centre
    rotation_deg: float  # roll about the image centre, counter-clockwise as seen (cv2 sign)
    displacement_px: float  # largest displacement the fitted motion gives any used tile
    score: float  # mean edge agreement at the fitted motion, 0..1
    still_score: float  # mean edge agreement without motion
    edge_ratio: float  # live / reference gradient energy

    def to_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "shift_px": [round(self.shift_px[0], 2), round(self.shift_px[1], 2)],
            "rotation_deg": round(self.rotation_deg, 3),
            "displacement_px": round(self.displacement_px, 2)
            if math.isfinite(self.displacement_px)
            else None,
            "score": round(self.score, 3),
            "still_score": round(self.still_score, 3),
        }


def _gradients(image_bgr: NDArray[np.uint8], size_wh: tuple[int, int]) -> tuple[NDArray, NDArray]:
    """(H, W) float32 Sobel gradients of the blurred grey image at ``size_wh``."""
    grey = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(grey, size_wh, interpolation=cv2.INTER_AREA).astype(np.float32)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    gx = cv2.Sobel(small, cv2.CV_32F, 1, 0, ksize=3, scale=0.125)
    gy = cv2.Sobel(small, cv2.CV_32F, 0, 1, ksize=3, scale=0.125)
    return gx, gy


class CameraMovedCheck:
    """Compares live frames of one camera with its reference view; ``update`` per frame.

    Args:
        reference_bgr: (H, W, 3) uint8 BGR reference (the calibration snapshot), full resolution.
        config: thresholds and cadence.
    """

    def __init__(self, reference_bgr: NDArray[np.uint8], config: CameraMovedConfig) -> None:
        if not (isinstance(reference_bgr, np.ndarray) and reference_bgr.dtype == np.uint8):
            raise ValueError("reference_bgr: expected a uint8 numpy image")
        if reference_bgr.ndim != 3 or reference_bgr.shape[2] != 3:
            raise ValueError(f"reference_bgr: expected shape (H, W, 3), got {reference_bgr.shape}")
        self.config = config
        self.full_hw = (int(reference_bgr.shape[0]), int(reference_bgr.shape[1]))
        h, w = self.full_hw
        work_w = min(config.work_width_px, w)
        self.scale = w / work_w  # full-resolution pixels per work pixel
        self.work_wh = (work_w, max(16, round(h / self.scale)))
        self.radius_px = max(1, math.ceil(config.search_px / self.scale))
        self._ref_gx, self._ref_gy = _gradients(reference_bgr, self.work_wh)
        self.tiles_xyxy = self._tiles()
        if len(self.tiles_xyxy) == 0:
            raise ValueError(f"reference image {w}x{h} px is too small for the camera-moved check")
        energy = self._tile_energy(self._ref_gx, self._ref_gy)
        self._ref_energy = float(energy.sum())
        self._used = (energy >= 0.05 * np.median(energy)) & (energy > 0)
        cx, cy = (self.work_wh[0] - 1) / 2.0, (self.work_wh[1] - 1) / 2.0
        t = self.tiles_xyxy.astype(np.float64)
        self._tile_offsets = np.c_[
            (t[:, 0] + t[:, 2] - 1) / 2 - cx, (t[:, 1] + t[:, 3] - 1) / 2 - cy
        ]
        self.state: MovedState = "ok"
        self.last: CheckResult | None = None
        self._next_check_s: float | None = None
        self._moved_streak = self._still_streak = 0
        self.checks = 0

    def _tiles(self) -> NDArray[np.int32]:
        """Grid of ``tiles_x`` x ``tiles_y`` tiles inside a border of the search range."""
        r, (w, h) = self.radius_px, self.work_wh
        xs = np.linspace(r, w - r, self.config.tiles_x + 1).round().astype(int)
        ys = np.linspace(r, h - r, self.config.tiles_y + 1).round().astype(int)
        tiles = [
            (x0, y0, x1, y1)
            for y0, y1 in zip(ys[:-1], ys[1:], strict=True)
            for x0, x1 in zip(xs[:-1], xs[1:], strict=True)
            if x1 > x0 and y1 > y0
        ]
        return np.array(tiles, np.int32).reshape(-1, 4)

    def _tile_energy(self, gx: NDArray, gy: NDArray) -> NDArray[np.float64]:
        e = gx.astype(np.float64) ** 2 + gy.astype(np.float64) ** 2
        return np.array([e[y0:y1, x0:x1].sum() for x0, y0, x1, y1 in self.tiles_xyxy])

    # --- per frame --------------------------------------------------------------------------------
    def update(self, frame_bgr: NDArray[np.uint8], t_s: float) -> MovedState:
        """Check ``frame_bgr`` if a check is due at ``t_s`` (seconds, any clock); the state."""
        every_s = self.config.check_every_s
        if (
            self._next_check_s is not None
            and self._next_check_s - every_s <= t_s < self._next_check_s
        ):
            return self.state  # not due (a clock that went back, a file replayed: check now)
        self._next_check_s = t_s + self.config.check_every_s
        self.last = result = self.compare(frame_bgr, t_s)
        self.checks += 1
        if result.verdict in ("shifted", "mismatch"):
            self._moved_streak, self._still_streak = self._moved_streak + 1, 0
        elif result.verdict == "still":
            self._moved_streak, self._still_streak = 0, self._still_streak + 1
        if self._moved_streak >= self.config.confirm_checks:
            self.state = "moved"
        elif self.state == "moved":
            if self._still_streak >= self.config.clear_checks:
                self.state = "ok"
        else:
            self.state = "suspect" if self._moved_streak > 0 else "ok"
        return self.state

    def compare(self, frame_bgr: NDArray[np.uint8], t_s: float = 0.0) -> CheckResult:
        """One comparison with the reference (no persistence); see the module docstring."""
        if frame_bgr.shape[:2] != self.full_hw:
            h, w = frame_bgr.shape[:2]
            logger.warning("frame is %dx%d px, the reference %dx%d px: the calibration does not "
                           "fit this stream", w, h, self.full_hw[1], self.full_hw[0])  # fmt: skip
            return CheckResult(t_s, "mismatch", (0.0, 0.0), 0.0, math.inf, 0.0, 0.0, 0.0)
        gx, gy = _gradients(frame_bgr, self.work_wh)
        edge_ratio = float(self._tile_energy(gx, gy).sum()) / max(self._ref_energy, 1e-12)
        surfaces = tile_shift_scores(
            self._ref_gx, self._ref_gy, gx, gy, self.tiles_xyxy, max_shift_px=self.radius_px
        )
        used = self._used  # tiles with edges in the reference
        still = float(surfaces[used, self.radius_px, self.radius_px].mean()) if used.any() else 0.0
        if edge_ratio < self.config.min_edge_ratio or not used.any():
            return CheckResult(t_s, "indeterminate", (0.0, 0.0), 0.0, 0.0, still, still, edge_ratio)
        (tx, ty, theta), score = self._fit(surfaces[used], self._tile_offsets[used])
        disp = self._tile_offsets[used] @ (_rotation(theta) - np.eye(2)).T + (tx, ty)
        displacement_px = float(np.hypot(disp[:, 0], disp[:, 1]).max()) * self.scale
        c = self.config
        if score < c.min_score:
            verdict: Verdict = "mismatch"
        elif displacement_px >= c.moved_threshold_px and score - still >= c.min_gain:
            verdict = "shifted"
        else:
            verdict = "still"
        shift = (tx * self.scale, ty * self.scale)
        return CheckResult(t_s, verdict, shift, -math.degrees(theta), displacement_px, score,
                           still, edge_ratio)  # fmt: skip

    def _fit(
        self, surfaces: NDArray[np.float32], offsets: NDArray[np.float64]
    ) -> tuple[tuple[float, float, float], float]:
        """Translation (work px) and roll (rad) that maximise the mean tile score, and that score.

        Step 1: coarse grid (whole pixels, 0.25 degree) on bilinear surfaces; steps 2 and 3:
        refine around the best on the tiles' cubic-spline surfaces (1/4 pixel and 1/16 degree,
        then 1/16 pixel and 1/64 degree).
        """
        r = self.radius_px
        max_rot_deg = self.config.max_rotation_deg
        # Step 1: coarse
        thetas = np.radians(np.arange(-max_rot_deg, max_rot_deg + 1e-9, 0.25))
        if len(thetas) == 0:
            thetas = np.zeros(1)
        best_score, best = _coarse(surfaces, offsets, r, thetas)
        # Steps 2 and 3: refine on splines
        from scipy import ndimage  # ~0.2 s to import: only a site with the check pays for it

        splines = [ndimage.spline_filter(s.astype(np.float64), order=3) for s in surfaces]
        for step_px, step_deg in ((0.25, 0.0625), (0.0625, 0.015625)):
            theta0, tx0, ty0 = best
            fine = np.arange(-4, 5) * step_px
            fine_theta = theta0 + np.radians(np.arange(-4, 5) * step_deg) if max_rot_deg else [0.0]
            best_score, best = _refine(splines, offsets, r, fine_theta, tx0 + fine, ty0 + fine)
        theta, tx, ty = best
        return (tx, ty, theta), best_score


def _rotation(theta: float) -> NDArray[np.float64]:
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s], [s, c]])


def _roll_offsets(offsets: NDArray[np.float64], thetas: Any) -> NDArray[np.float64]:
    """(A, T, 2) displacement of each tile centre by a roll of each angle."""
    eye = np.eye(2)
    return np.stack([offsets @ (_rotation(float(a)) - eye).T for a in thetas])


def _coarse(
    surfaces: NDArray[np.float32], offsets: NDArray[np.float64], r: int, thetas: NDArray
) -> tuple[float, tuple[float, float, float]]:
    """Best (mean score, (theta, tx, ty)) over whole-pixel translations and ``thetas``."""
    n_tiles, n = len(surfaces), 2 * r + 1
    roll = _roll_offsets(offsets, thetas)  # (A, T, 2)
    base = np.floor(roll).astype(np.int64)
    frac = roll - base
    grid = np.arange(-r, r + 1)
    tiles = np.arange(n_tiles)[None, :, None, None]
    total = np.zeros((len(roll), n, n))
    for oy, ox in ((0, 0), (0, 1), (1, 0), (1, 1)):  # bilinear: the four neighbours
        # (A, T, n, n) indices into each tile's surface; outside the surface scores 0
        xs = grid[None, None, None, :] + (base[:, :, 0] + ox + r)[:, :, None, None]
        ys = grid[None, None, :, None] + (base[:, :, 1] + oy + r)[:, :, None, None]
        wx = frac[:, :, 0] if ox else 1.0 - frac[:, :, 0]
        wy = frac[:, :, 1] if oy else 1.0 - frac[:, :, 1]
        inside = (xs >= 0) & (xs < n) & (ys >= 0) & (ys < n)
        samples = surfaces[tiles, np.clip(ys, 0, n - 1), np.clip(xs, 0, n - 1)] * inside
        total += (samples * (wx * wy)[:, :, None, None]).sum(axis=1)  # (A, n, n)
    a, iy, ix = np.unravel_index(int(np.argmax(total)), total.shape)
    return float(total[a, iy, ix]) / n_tiles, (float(thetas[a]), float(ix - r), float(iy - r))


def _refine(
    splines: list[NDArray[np.float64]],
    offsets: NDArray[np.float64],
    r: int,
    thetas: Any,
    txs: NDArray[np.float64],
    tys: NDArray[np.float64],
) -> tuple[float, tuple[float, float, float]]:
    """Best (mean score, (theta, tx, ty)) of the grid, sampling each tile's cubic spline."""
    tx, ty = np.meshgrid(txs, tys, indexing="xy")
    tx, ty = tx.ravel(), ty.ravel()
    from scipy import ndimage

    roll = _roll_offsets(offsets, thetas)  # (A, T, 2)
    total = np.zeros((len(roll), len(tx)))
    for t, spline in enumerate(splines):
        xs = tx[None, :] + roll[:, t, :1] + r  # (A, N) surface columns
        ys = ty[None, :] + roll[:, t, 1:] + r
        total += ndimage.map_coordinates(spline, [ys.ravel(), xs.ravel()], order=3,
                                         mode="constant", cval=0.0, prefilter=False
                                         ).reshape(xs.shape)  # fmt: skip
    a, i = np.unravel_index(int(np.argmax(total)), total.shape)
    return float(total[a, i]) / len(splines), (float(thetas[a]), float(tx[i]), float(ty[i]))

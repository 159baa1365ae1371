"""Motion gating: run the detector only when something changed where it matters.

A model inference costs milliseconds per frame; an intersection at night or a road between two
platoons shows a still scene for most frames. The gate keeps a small grey running background
(the compiled ``motion_update`` kernel, on the frame's green channel downscaled to
``width_px``) and counts the changed pixels inside the regions that matter: by default the
whole frame; with ``regions: lines_and_zones`` only the area around the counting lines and
zones (their bounding boxes grown by ``margin_px``; cheaper on busy scenes, but a vehicle
moving outside that area is then seen with a stale box until it reaches it, so keep the margin
wider than a vehicle travels in a few frames). The detector runs when that share exceeds
``min_changed_fraction``, and at least every ``keepalive_s`` (a vehicle absorbed into the
background while parked is still tracked, and a gate that went blind cannot hide traffic for
long).

On a skipped frame the pipeline reuses the last inference's detections: the regions did not
change, so neither did what is in them, and tracks, idle times and queues keep running.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from carbonedge.kernels import motion_update

__all__ = ["GateConfig", "MotionGate"]


class GateConfig(BaseModel):
    """Per-site motion gating settings (``gating:`` in the site config)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="skip the detector on frames where nothing moved")
    regions: Literal["frame", "lines_and_zones"] = Field(
        "frame",
        description="look for motion in the whole frame or only around lines and zones",
    )
    keepalive_s: float = Field(2.0, gt=0.0, description="infer at least this often")
    min_changed_fraction: float = Field(
        0.002, ge=0.0, le=1.0, description="share of region pixels that must change"
    )
    threshold_levels: float = Field(12.0, ge=0.0, description="grey-level change per pixel")
    width_px: int = Field(160, ge=16, description="the gate works on a frame this wide")
    margin_px: float = Field(96.0, ge=0.0, description="around lines and zones, full-size pixels")
    alpha: float = Field(0.05, gt=0.0, le=1.0, description="background learning rate")


class MotionGate:
    """Decides per frame whether the detector must run."""

    def __init__(
        self, config: GateConfig, regions_px: list[NDArray[np.float64]] | None = None
    ) -> None:
        """``regions_px``: polygons/polylines (K, 2) in full-size pixels (lines, zones); None or
        empty: the whole frame matters."""
        self.config = config
        self._regions = [np.asarray(r, np.float64).reshape(-1, 2) for r in regions_px or []]
        self._background: NDArray[np.float32] | None = None
        self._mask: NDArray[np.bool_] | None = None
        self._mask_px, self._mask_all = 1, True
        self._scale = 1.0
        self._last_run_s = -np.inf
        self.frames = 0
        self.skipped = 0

    @property
    def skipped_fraction(self) -> float:
        return self.skipped / self.frames if self.frames else 0.0

    def _setup(self, shape_hw: tuple[int, int]) -> None:
        h, w = shape_hw
        self._scale = min(1.0, self.config.width_px / w)
        small = (max(1, round(h * self._scale)), max(1, round(w * self._scale)))
        mask = np.zeros(small, bool)
        if not self._regions:
            mask[:] = True
        for region in self._regions:
            m = self.config.margin_px
            x0, y0 = np.floor((region.min(axis=0) - m) * self._scale).astype(int)
            x1, y1 = np.ceil((region.max(axis=0) + m) * self._scale).astype(int)
            mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
        self._mask = mask
        self._mask_px = max(int(mask.sum()), 1)
        self._mask_all = bool(mask.all())  # the whole frame: count without indexing
        self._background = None

    def should_run(self, image: NDArray[np.uint8], t_s: float) -> bool:
        """Update the background with ``image`` (BGR or grey); True when the detector must run."""
        self.frames += 1
        if self._mask is None or self._mask.shape != self._small_shape(image):
            self._setup(image.shape[:2])
        assert self._mask is not None
        small = cv2.resize(self._grey(image), self._mask.shape[::-1], interpolation=cv2.INTER_AREA)
        if self._background is None:
            self._background = small.astype(np.float32)
            changed = 1.0
        else:
            fg = motion_update(small, self._background, alpha=self.config.alpha,
                               alpha_foreground=self.config.alpha,
                               threshold_levels=self.config.threshold_levels)  # fmt: skip
            moved = fg if self._mask_all else fg[self._mask]
            changed = np.count_nonzero(moved) / self._mask_px
        due = t_s - self._last_run_s >= self.config.keepalive_s
        if changed > self.config.min_changed_fraction or due:
            self._last_run_s = t_s
            return True
        self.skipped += 1
        return False

    def _grey(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """The picture's green channel (the brightest-weighted part of luma) on every
        ``step``-th pixel, ``step`` leaving at least twice the gate's width to average down:
        on a 1280x720 frame 0.02 ms against 0.43 for a full-size grey conversion and resize,
        and the gate only compares the picture with its own past."""
        step = max(1, image.shape[1] // (2 * self.config.width_px))
        sampled = image[::step, ::step] if image.ndim == 2 else image[::step, ::step, 1]
        return np.ascontiguousarray(sampled)

    def _small_shape(self, image: NDArray) -> tuple[int, int]:
        h, w = image.shape[:2]
        scale = min(1.0, self.config.width_px / w)
        return max(1, round(h * scale)), max(1, round(w * scale))

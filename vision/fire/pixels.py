"""Weight-free fire/smoke candidates: per-camera background, compiled per-pixel kernels.

Per frame, at a working width of ``work_width_px``:

1. downscale (area); global exposure and white balance: per-channel gain = median of
   frame / colour background over lit pixels, divided out (a camera's auto-exposure moves the
   whole image, smoke moves a few pixels);
2. gain-corrected luma, blurred; camera shake undone by phase correlation against the background;
3. ``smoke_update`` kernel: pixels brighter than the background by more than
   ``threshold_levels + k_sigma * noise``; the per-pixel noise starts from sensor noise plus
   ``shake_px`` x the local gradient and learns from the pixel's darker-than-background changes;
   the background follows the scene with a time constant of ``background_tau_s`` (slower under
   candidates), so a slow change of light is absorbed while a plume growing for minutes is not;
4. ``flame_mask`` kernel: flame colours (YCbCr rule) that are also brighter than the background;
   at tower cadence the colour must be new (not flame-coloured in the background: sandy roads,
   red roofs); at video rate the ``flicker_update`` kernel must see them flicker; at night (dark
   frame) smoke is invisible and flames are the bright new spots; IR/grey frames use no colour;
   a frame where more than ``max_candidate_frac`` of the pixels changed proposes nothing;
5. 8-connected components of at least ``min_area_px`` become boxes in frame pixels: class 0
   "smoke", class 1 "fire"; confidence = mean brightening / (mean brightening + 10 levels).

It proposes candidates only: persistence, growth and the terrain checks are the confirmer's.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import connected_components
from carbonedge.kernels.fire import flame_mask, flicker_update, smoke_update
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.fire.config import PixelDetectorConfig

logger = logging.getLogger(__name__)

CLASS_NAMES = ("smoke", "fire")
_LUMA_BGR = np.float32([0.114, 0.587, 0.299])
_LIT_LEVELS = 30.0
_CLOSE = np.ones((3, 3), np.uint8)


@dataclass
class _State:
    """Per-camera state at the working size."""

    colour_bg: NDArray[np.float32]  # (h, w, 3) plain running average, for the gains
    luma_bg: NDArray[np.float32]  # (h, w) blurred luma background
    variance: NDArray[np.float32]  # (h, w) noise variance, levels^2
    flame_prev: NDArray[np.uint8]
    flicker: NDArray[np.float32]
    t_mono_s: float
    window: NDArray[np.float32] | None = None
    frames: int = 1
    shift_px: tuple[float, float] = field(default=(0.0, 0.0))


class PixelFireDetector:
    """Candidate smoke and fire boxes from frames, one background per camera."""

    class_names = CLASS_NAMES
    name = "pixels"

    def __init__(self, config: PixelDetectorConfig) -> None:
        self.config = config
        self._states: dict[str, _State] = {}
        self.last_mode: dict[str, str] = {}  # source -> "day" | "night" | "grey", for logs/tests

    def forget(self, source_id: str) -> None:
        self._states.pop(source_id, None)
        self.last_mode.pop(source_id, None)

    def work_image(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], float]:
        """(h, w, 3) uint8 image at the working width and the scale factor work/frame."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        scale = min(1.0, self.config.work_width_px / image.shape[1])
        if scale == 1.0:
            return np.ascontiguousarray(image), 1.0
        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale

    def detect(self, frame: Frame) -> Detections:
        """Candidate boxes of ``frame`` in its pixels (class 0 smoke, 1 fire)."""
        small, scale = self.work_image(frame.image)
        colour = small.astype(np.float32)
        state = self._states.get(frame.source_id)
        if state is None or state.colour_bg.shape != colour.shape:
            self._states[frame.source_id] = self._new_state(colour, frame.t_mono_s)
            return Detections.empty()
        dt_s = max(1e-3, frame.t_mono_s - state.t_mono_s)
        state.t_mono_s = frame.t_mono_s
        state.frames += 1
        cfg = self.config
        alpha = 1.0 - math.exp(-dt_s / cfg.background_tau_s)
        alpha_var = 1.0 - math.exp(-dt_s / cfg.noise_tau_s)
        # Step 1: global gains (exposure, white balance)
        gains = self._gains(colour, state.colour_bg)
        luma = self._luma(colour, gains)
        mode = self._mode(luma, colour, gains)
        self.last_mode[frame.source_id] = mode
        # Step 2: shake
        if cfg.register_shake:
            luma = self._register(luma, state)
        # Step 3: brightening against the background (the kernel updates it)
        bright, count = smoke_update(
            luma, state.luma_bg, state.variance, threshold_levels=cfg.threshold_levels,
            k_sigma=cfg.k_sigma, alpha=alpha, alpha_candidate=alpha * cfg.candidate_rate_ratio,
            alpha_variance=alpha_var,
        )  # fmt: skip
        cv2.accumulateWeighted(colour / gains, state.colour_bg, alpha)
        if count > cfg.max_candidate_frac * bright.size:
            # light changed everywhere (sun behind a cloud, auto-exposure past its range, a
            # shake the registration missed): early smoke is small, so this frame proposes nothing
            logger.debug(
                "%s#%d: %d changed pixels, global change", frame.source_id, frame.index, count
            )
            return Detections.empty()
        # Step 4: flames
        fire = self._fire_mask(
            small, luma, bright, state, mode, video_rate=dt_s <= cfg.video_rate_max_dt_s
        )
        smoke = bright if mode != "night" else np.zeros_like(bright)
        if fire is not None:
            smoke = np.where(fire > 0, 0, smoke).astype(np.uint8)
        # Step 5: boxes
        excess = luma - state.luma_bg
        parts = [self._boxes(smoke, excess, 0, scale)]
        if fire is not None:
            parts.append(self._boxes(fire, excess, 1, scale))
        return Detections.concatenate(parts)

    # -- steps ----------------------------------------------------------------------------------
    def _new_state(self, colour: NDArray[np.float32], t_mono_s: float) -> _State:
        cfg = self.config
        luma = self._luma(colour, np.ones(3, np.float32))
        gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        variance = cfg.noise_floor_levels**2 + cfg.shake_px**2 * (gx * gx + gy * gy)
        h, w = luma.shape
        return _State(
            colour.copy(), luma, np.ascontiguousarray(variance, np.float32),
            np.zeros((h, w), np.uint8), np.zeros((h, w), np.float32), t_mono_s,
        )  # fmt: skip

    @staticmethod
    def _gains(colour: NDArray[np.float32], colour_bg: NDArray[np.float32]) -> NDArray[np.float32]:
        sample = (slice(None, None, 3), slice(None, None, 3))
        cur, bg = colour[sample].reshape(-1, 3), colour_bg[sample].reshape(-1, 3)
        lit = (bg.max(axis=1) > _LIT_LEVELS) & (cur.max(axis=1) < 250.0) & (bg.max(axis=1) < 250.0)
        if np.count_nonzero(lit) < 16:
            return np.ones(3, np.float32)
        gains = np.median((cur[lit] + 1.0) / (bg[lit] + 1.0), axis=0)
        return np.clip(gains, 0.25, 4.0).astype(np.float32)

    def _luma(self, colour: NDArray[np.float32], gains: NDArray[np.float32]) -> NDArray[np.float32]:
        weights = (_LUMA_BGR / gains).reshape(1, 3).astype(np.float32)
        luma = cv2.transform(colour, weights).reshape(colour.shape[:2])
        s = self.config.blur_sigma_px
        if s > 0:
            luma = cv2.GaussianBlur(luma, (0, 0), s)
        return np.ascontiguousarray(luma, np.float32)

    def _mode(self, luma: NDArray, colour: NDArray, gains: NDArray) -> str:
        if float(luma.mean()) < self.config.night_luma_max:
            return "night"
        sample = colour[::4, ::4] / gains
        if float((sample.max(axis=2) - sample.min(axis=2)).mean()) < self.config.grey_chroma_max:
            return "grey"
        return "day"

    @staticmethod
    def _register(luma: NDArray[np.float32], state: _State) -> NDArray[np.float32]:
        if state.window is None or state.window.shape != luma.shape:
            state.window = cv2.createHanningWindow(luma.shape[::-1], cv2.CV_32F)
        # copies: OpenCV 5 applies the window to its inputs in place
        (dx, dy), response = cv2.phaseCorrelate(state.luma_bg.copy(), luma.copy(), state.window)
        if not (abs(dx) > 0.2 or abs(dy) > 0.2) or response < 0.05 or max(abs(dx), abs(dy)) > 20:
            return luma
        state.shift_px = (dx, dy)
        m = np.float32([[1, 0, -dx], [0, 1, -dy]])
        return cv2.warpAffine(luma, m, luma.shape[::-1], borderMode=cv2.BORDER_REPLICATE)

    def _fire_mask(self, small, luma, bright, state: _State, mode: str, *, video_rate: bool):
        cfg = self.config
        if mode == "day":
            colour_mask, _ = flame_mask(
                small, min_red=cfg.flame_min_red, min_cr_minus_cb=cfg.flame_min_cr_minus_cb
            )
        else:  # night or IR: flames are the brightest spots
            colour_mask = ((luma > 200.0).astype(np.uint8) * 255).astype(np.uint8)
        if video_rate:
            flicker_update(colour_mask, state.flame_prev, state.flicker, decay=0.8)
            flickering = state.flicker >= cfg.flame_flicker_min
            return ((colour_mask > 0) & flickering).astype(np.uint8) * 255
        state.flame_prev[...] = colour_mask
        if mode == "day":  # new flame colour only: sandy roads and red roofs were already there
            bg_bgr = np.clip(state.colour_bg, 0, 255).astype(np.uint8)
            was, _ = flame_mask(
                bg_bgr, min_red=cfg.flame_min_red, min_cr_minus_cb=cfg.flame_min_cr_minus_cb
            )
            colour_mask = np.where(was > 0, 0, colour_mask).astype(np.uint8)
        return ((colour_mask > 0) & (bright > 0)).astype(np.uint8) * 255

    def _boxes(self, mask, excess, class_id: int, scale: float) -> Detections:
        if not mask.any():
            return Detections.empty()
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _CLOSE)
        xyxy, area = connected_components(mask, min_area_px=self.config.min_area_px)
        conf = np.empty(len(area), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(xyxy.astype(np.int32)):
            sel = mask[y1:y2, x1:x2] > 0
            mean = float(np.maximum(excess[y1:y2, x1:x2][sel], 0).mean()) if sel.any() else 0.0
            conf[i] = mean / (mean + 10.0)
        return Detections(xyxy / scale, conf, np.full(len(area), class_id, np.int32))

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
from carbonedge.kernels.smoke_change import smoke_change_update
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.fire.config import PixelDetectorConfig

logger = logging.getLogger(__name__)

CLASS_NAMES = ("smoke", "fire")
_LUMA_BGR = np.float32([0.114, 0.587, 0.299])
_LIT_LEVELS = 30.0
_CLOSE = np.ones((3, 3), np.uint8)


@dataclass
class _State:
    """Per-camera, per-view state at the view's working size."""

    colour_bg: NDArray[np.float32]  # (h, w, 3) plain running average, for the gains
    luma_bg: NDArray[np.float32]  # (h, w) blurred luma background
    variance: NDArray[np.float32]  # (h, w) noise variance, levels^2
    flame_prev: NDArray[np.uint8]
    flicker: NDArray[np.float32]
    t_mono_s: float
    rows: tuple[int, int] = (0, 0)  # frame rows the view covers
    factor: int = 1  # integer downscale frame -> view
    window: NDArray[np.float32] | None = None
    frames: int = 1
    alpha: float = 0.0  # background rate of the latest frame
    shift_px: tuple[float, float] = field(default=(0.0, 0.0))


def downscale(image: NDArray[np.uint8], factor: int) -> NDArray[np.uint8]:
    """``image`` reduced by an integer ``factor`` (area average; OpenCV's fast integer path)."""
    if factor <= 1:
        return np.ascontiguousarray(image)
    h, w = image.shape[:2]
    size = (max(1, w // factor), max(1, h // factor))
    return cv2.resize(image[: size[1] * factor, : size[0] * factor], size,
                      interpolation=cv2.INTER_AREA)  # fmt: skip


class PixelFireDetector:
    """Candidate smoke and fire boxes from frames, one background per camera and view.

    Two views of each frame: the whole frame reduced to about ``work_width_px``, and, once the
    monitor has told it where the horizon is (``set_band``), the band around the horizon at up
    to ``band_width_px`` wide (full resolution for frames up to that width), where a distant
    plume's first minutes are a few pixels. Whole-frame candidates inside the band are left to
    the band's.
    """

    class_names = CLASS_NAMES
    name = "pixels"

    def __init__(self, config: PixelDetectorConfig) -> None:
        self.config = config
        self._states: dict[tuple[str, str], _State] = {}
        self._bands: dict[str, tuple[int, int]] = {}
        self.last_mode: dict[str, str] = {}  # source -> "day" | "night" | "grey", for logs/tests

    def forget(self, source_id: str) -> None:
        for key in [k for k in self._states if k[0] == source_id]:
            del self._states[key]
        self._bands.pop(source_id, None)
        self.last_mode.pop(source_id, None)

    def set_band(self, source_id: str, rows: tuple[int, int] | None) -> None:
        """Frame rows ``(y0, y1)`` of the horizon band of a camera (None: no band view)."""
        self._states.pop((source_id, "band"), None)
        if rows is None:
            self._bands.pop(source_id, None)
        else:
            self._bands[source_id] = (int(rows[0]), int(rows[1]))

    def factors(self, width_px: int) -> tuple[int, int]:
        """Integer downscale factors (whole frame, band) for frames ``width_px`` wide."""
        cfg = self.config
        coarse = max(1, round(width_px / cfg.work_width_px))
        band = max(1, math.ceil(width_px / cfg.band_width_px))
        return coarse, band

    def work_image(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], float]:
        """(h, w, 3) uint8 whole-frame view and the scale factor view/frame."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        factor = self.factors(image.shape[1])[0]
        return downscale(image, factor), 1.0 / factor

    def detect(self, frame: Frame) -> Detections:
        """Candidate boxes of ``frame`` in its pixels (class 0 smoke, 1 fire)."""
        image = frame.image
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        h, w = image.shape[:2]
        coarse_k, band_k = self.factors(w)
        coarse, mode, shift, gains = self._coarse_view(frame, image, coarse_k)
        band = self._bands.get(frame.source_id)
        if band is None or band_k >= coarse_k or mode is None:
            return coarse
        y0, y1 = band
        # whole-frame smoke boxes inside the band: the band's view sees them better
        inside = (coarse.xyxy[:, 1] >= y0) & (coarse.xyxy[:, 3] <= y1) & (coarse.class_id == 0)
        fine = self._band_view(frame, image[y0:y1], band, band_k, mode, shift, gains)
        return Detections.concatenate([coarse[~inside], fine])

    def _coarse_view(
        self, frame: Frame, image: NDArray[np.uint8], factor: int
    ) -> tuple[Detections, str | None, tuple[float, float] | None, NDArray[np.float32]]:
        """Candidates of the whole frame (frame pixels), the light mode, the shake (frame px,
        None: none) and the exposure gain of the luma."""
        small = downscale(image, factor)
        colour = small.astype(np.float32)
        key = (frame.source_id, "coarse")
        state = self._states.get(key)
        if state is None or state.colour_bg.shape != colour.shape:
            luma = self._luma(colour, np.ones(3, np.float32))
            self._states[key] = self._new_state(luma, colour, frame.t_mono_s, factor)
            return Detections.empty(), None, None, np.ones(3, np.float32)
        dt_s = self._tick(state, frame)
        cfg = self.config
        # Step 1: global gains (exposure, white balance), then local ones (light over large areas)
        gains = self._gains(colour, state.colour_bg)
        luma = self._luma(colour, gains)
        mode = self._mode(luma, colour, gains, self.last_mode.get(frame.source_id))
        self.last_mode[frame.source_id] = mode
        if mode != "night":  # at night the light that changes is the fire's own
            luma = self._local_gain(luma, state.luma_bg)
        # Step 2: shake
        shift = None
        if cfg.register_shake:
            luma, shift = self._register(luma, state, None)
        # Step 3: brightening against the background (the kernel updates it)
        bright = self._brightening(luma, state, dt_s, frame, "coarse")
        if bright is not None and mode == "day":
            bright = self._off_glare(bright, small)
        cv2.accumulateWeighted(colour / gains, state.colour_bg, state.alpha)
        if bright is None:
            return Detections.empty(), mode, shift, gains
        # Step 4: flames
        fire = self._fire_mask(
            small, luma, bright, state, mode, video_rate=dt_s <= cfg.video_rate_max_dt_s
        )
        smoke = bright if mode != "night" else np.zeros_like(bright)
        if fire is not None:
            smoke = np.where(fire > 0, 0, smoke).astype(np.uint8)
        # Step 5: boxes, in frame pixels
        excess = luma - state.luma_bg
        parts = [self._boxes(smoke, luma, excess, 0, factor, 0, cfg.min_area_px)]
        if fire is not None:
            parts.append(self._boxes(fire, luma, excess, 1, factor, 0, cfg.min_area_px))
        return Detections.concatenate(parts), mode, shift, gains

    def _band_view(
        self,
        frame: Frame,
        crop: NDArray[np.uint8],
        rows: tuple[int, int],
        factor: int,
        mode: str,
        shift: tuple[float, float] | None,
        gains: NDArray[np.float32],
    ) -> Detections:
        """Smoke candidates of the horizon band (frame pixels): luma only, with the whole frame's
        exposure and white-balance gains and shake; by night, glowing points and lines."""
        # the whole frame's per-channel gains: a white-balance jump moves blue sky and brown
        # ridges differently, right where the band is
        weights = (_LUMA_BGR / gains).reshape(1, 3).astype(np.float32)
        small = downscale(crop, factor).astype(np.float32)
        luma = np.ascontiguousarray(cv2.transform(small, weights).reshape(small.shape[:2]))
        if self.config.blur_sigma_px > 0:
            luma = cv2.GaussianBlur(luma, (0, 0), self.config.blur_sigma_px)
        key = (frame.source_id, "band")
        state = self._states.get(key)
        if state is None or state.luma_bg.shape != luma.shape or state.rows != rows:
            # shake is the same angle at every scale: more band pixels than whole-frame ones
            shake_px = self.config.shake_px * self.factors(frame.image.shape[1])[0] / factor
            self._states[key] = self._new_state(luma, None, frame.t_mono_s, factor, rows, shake_px)
            return Detections.empty()
        dt_s = self._tick(state, frame)
        if mode != "night":
            luma = self._local_gain(luma, state.luma_bg)
        if self.config.register_shake and shift is not None:
            luma, _ = self._register(luma, state, (shift[0] / factor, shift[1] / factor))
        bright = self._brightening(luma, state, dt_s, frame, "band")
        if bright is None:
            return Detections.empty()
        excess = luma - state.luma_bg
        min_area = self.config.band_min_area_px
        if mode == "night":  # smoke is invisible; glowing points and lines on the ridges
            glow = ((luma > self._glow_level(luma)) & (bright == 255)).astype(np.uint8)
            return self._boxes(glow * np.uint8(255), luma, excess, 1, factor, rows[0], min_area)
        return self._boxes(bright, luma, excess, 0, factor, rows[0], min_area)

    def _off_glare(self, mask: NDArray[np.uint8], bgr: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """``mask`` without the clipped pixels and their halo (``glare_halo_frac`` x width): sun
        glare and its bloom swell and shrink with every exposure step, and a clipped pixel
        cannot show a veil of smoke."""
        clipped = (bgr.max(axis=2) >= 250).astype(np.uint8)
        if not clipped.any():
            return mask
        r = max(1, round(self.config.glare_halo_frac * bgr.shape[1]))
        halo = cv2.dilate(clipped, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
        return np.where(halo > 0, np.uint8(0), mask)

    def _tick(self, state: _State, frame: Frame) -> float:
        dt_s = max(1e-3, frame.t_mono_s - state.t_mono_s)
        state.t_mono_s = frame.t_mono_s
        state.frames += 1
        state.alpha = 1.0 - math.exp(-dt_s / self.config.background_tau_s)
        return dt_s

    def _brightening(
        self, luma: NDArray[np.float32], state: _State, dt_s: float, frame: Frame, view: str
    ) -> NDArray[np.uint8] | None:
        """``smoke_update`` mask of ``luma`` against the view's background (which it updates);
        None when too much changed at once."""
        cfg = self.config
        alpha = state.alpha
        kw = {"threshold_levels": cfg.threshold_levels, "k_sigma": cfg.k_sigma, "alpha": alpha,
              "alpha_candidate": alpha * cfg.candidate_rate_ratio,
              "alpha_variance": 1.0 - math.exp(-dt_s / cfg.noise_tau_s)}  # fmt: skip
        if cfg.darker_smoke:  # smoke over a bright hazy sky is darker than it
            bright, up, down = smoke_change_update(luma, state.luma_bg, state.variance, **kw)
            count = up + down
        else:
            bright, count = smoke_update(luma, state.luma_bg, state.variance, **kw)
        if count > cfg.max_candidate_frac * bright.size:
            # light changed everywhere (auto-exposure past its range, a shake the registration
            # missed): early smoke is small, so this view proposes nothing in this frame
            logger.debug(
                "%s#%d %s: %d changed pixels, global change", frame.source_id, frame.index,
                view, count,
            )  # fmt: skip
            return None
        return bright

    # -- steps ----------------------------------------------------------------------------------
    def _new_state(
        self,
        luma: NDArray[np.float32],
        colour: NDArray[np.float32] | None,
        t_mono_s: float,
        factor: int,
        rows: tuple[int, int] = (0, 0),
        shake_px: float | None = None,
    ) -> _State:
        cfg = self.config
        shake_px = cfg.shake_px if shake_px is None else shake_px
        gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        variance = cfg.noise_floor_levels**2 + shake_px**2 * (gx * gx + gy * gy)
        h, w = luma.shape
        colour_bg = colour.copy() if colour is not None else np.zeros((1, 1, 3), np.float32)
        return _State(
            colour_bg, np.ascontiguousarray(luma, np.float32),
            np.ascontiguousarray(variance, np.float32), np.zeros((h, w), np.uint8),
            np.zeros((h, w), np.float32), t_mono_s, rows, factor,
        )  # fmt: skip

    @staticmethod
    def _gains(colour: NDArray[np.float32], colour_bg: NDArray[np.float32]) -> NDArray[np.float32]:
        step = max(3, int(math.sqrt(colour.shape[0] * colour.shape[1] / 30_000)))
        sample = (slice(None, None, step), slice(None, None, step))
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

    def _local_gain(
        self, luma: NDArray[np.float32], bg: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        """``luma`` x (coarse background / coarse luma): light that changed over a large area
        (the sky brightening, haze thinning, a cloud's shadow) is divided out, while a plume
        smaller than the coarse cell keeps its contrast."""
        cell = max(4, round(self.config.local_gain_cell_frac * luma.shape[1]))
        h, w = luma.shape
        size = (max(1, w // cell), max(1, h // cell))
        lo_luma = cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
        lo_bg = cv2.resize(bg, size, interpolation=cv2.INTER_AREA)
        ratio = (lo_bg + 8.0) / (lo_luma + 8.0)
        if min(ratio.shape) >= 3:  # a plume filling a cell or two does not set its gain
            ratio = cv2.medianBlur(np.ascontiguousarray(ratio, np.float32), 3)
        ratio = cv2.resize(ratio, (w, h), interpolation=cv2.INTER_LINEAR)
        return np.ascontiguousarray(luma * ratio, np.float32)

    def _glow_level(self, luma: NDArray[np.float32]) -> float:
        """Luma above which new light is a flame at night: ``night_flame_luma``, or
        ``night_glow_ratio`` x the frame's mean where the night is less dark."""
        cfg = self.config
        return max(cfg.night_flame_luma, cfg.night_glow_ratio * float(luma[::4, ::4].mean()))

    def _mode(self, luma: NDArray, colour: NDArray, gains: NDArray, last: str | None) -> str:
        """The measured darkness switch: "night" when the frame's mean luma is under
        ``night_luma_max`` (and stays so until it is ``night_hysteresis_levels`` above it, so
        dusk does not flap); "grey" for IR/grey frames; else "day"."""
        level = self.config.night_luma_max
        if last == "night":
            level += self.config.night_hysteresis_levels
        if float((colour[::4, ::4] @ _LUMA_BGR).mean()) < level:  # raw light, not gain-corrected
            return "night"
        sample = colour[::4, ::4] / gains
        if float((sample.max(axis=2) - sample.min(axis=2)).mean()) < self.config.grey_chroma_max:
            return "grey"
        return "day"

    @staticmethod
    def _register(
        luma: NDArray[np.float32], state: _State, shift: tuple[float, float] | None
    ) -> tuple[NDArray[np.float32], tuple[float, float] | None]:
        """``luma`` shifted onto the background; the shift in frame pixels (None: none found).
        ``shift`` (view pixels) skips the measurement: the band uses the whole frame's."""
        if shift is None:
            if state.window is None or state.window.shape != luma.shape:
                state.window = cv2.createHanningWindow(luma.shape[::-1], cv2.CV_32F)
            # copies: OpenCV 5 applies the window to its inputs in place
            (dx, dy), response = cv2.phaseCorrelate(state.luma_bg.copy(), luma.copy(), state.window)
            small = not (abs(dx) > 0.2 or abs(dy) > 0.2)
            if small or response < 0.05 or max(abs(dx), abs(dy)) > 20:
                return luma, None
        else:
            dx, dy = shift
        state.shift_px = (dx, dy)
        m = np.float32([[1, 0, -dx], [0, 1, -dy]])
        warped = cv2.warpAffine(luma, m, luma.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
        return warped, (dx * state.factor, dy * state.factor)

    def _fire_mask(self, small, luma, bright, state: _State, mode: str, *, video_rate: bool):
        cfg = self.config
        if mode == "day":
            colour_mask, _ = flame_mask(
                small, min_red=cfg.flame_min_red, min_cr_minus_cb=cfg.flame_min_cr_minus_cb
            )
        else:  # night or IR: flames are the brightest spots
            colour_mask = (luma > self._glow_level(luma)).astype(np.uint8) * np.uint8(255)
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
        return ((colour_mask > 0) & (bright == 255)).astype(np.uint8) * 255

    def _boxes(
        self, mask, luma, excess, class_id: int, factor: int, y0: int, min_area_px: int
    ) -> Detections:
        """Components of ``mask`` as boxes in frame pixels. A smoke component must change one
        way (``min_polarity_frac`` of its pixels all brighter or all darker): a veil of smoke
        brightens dark ground or darkens bright haze, while moving texture (a swaying tree,
        drifting cloud edges) brightens and darkens side by side. And it is lit: daylight smoke
        scatters sunlight, so its pixels are at least ``smoke_min_luma_frac`` x the view's
        95th-percentile luma (dark foliage moving in the wind is not)."""
        if not mask.any():
            return Detections.empty()
        bright_ref = float(np.percentile(luma[::4, ::4], 95))
        dark_levels = self.config.smoke_min_luma_frac * bright_ref
        closed = cv2.morphologyEx((mask > 0).astype(np.uint8), cv2.MORPH_CLOSE, _CLOSE)
        xyxy, area = connected_components(closed, min_area_px=min_area_px)
        keep = np.ones(len(area), np.bool_)
        conf = np.empty(len(area), np.float32)
        for i, (x1, y1, x2, y2) in enumerate(xyxy.astype(np.int32)):
            sub = mask[y1:y2, x1:x2]
            sel = sub > 0
            n = int(np.count_nonzero(sel))
            if n == 0:
                keep[i], conf[i] = False, 0.0
                continue
            conf[i] = (m := float(np.abs(excess[y1:y2, x1:x2][sel]).mean())) / (m + 10.0)
            if class_id == 0:
                up = int(np.count_nonzero(sub == 255))
                lit = float(luma[y1:y2, x1:x2][sel].mean()) >= dark_levels
                keep[i] = lit and max(up, n - up) >= self.config.min_polarity_frac * n
        boxes = xyxy[keep] * np.float32(factor)
        boxes[:, [1, 3]] += np.float32(y0)
        return Detections(boxes, conf[keep], np.full(len(boxes), class_id, np.int32))

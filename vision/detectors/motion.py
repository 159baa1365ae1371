"""Weight-free motion detector: background subtraction + blobs, one class ("vehicle").

For fixed cameras with no model at hand (the embedded demo, commissioning, a fallback). Per frame:

1. grey image (or, with ``channels: bgr``, each colour channel), Gaussian blur of radius
   ``blur_px`` (sensor noise);
2. ``motion_update``: foreground where the frame differs from a per-source running background by
   more than ``threshold_levels`` grey levels (in any channel); the background follows the scene
   at ``alpha`` per frame, and at the much slower ``alpha_foreground`` under foreground pixels (a
   passing vehicle does not get learnt into the background; a parked one is absorbed after roughly
   ``1 / alpha_foreground`` frames);
3. morphological opening (radius ``open_px``, removes speckle) then closing (radius ``dilate_px``,
   merges the fragments of one vehicle: windows, roof and body that differ from the road by
   different amounts);
4. 8-connected components of at least ``min_area_px`` pixels become boxes.

The background of a source starts as its first frame. During the first ``warmup_frames`` frames no
detections are emitted; at the end of warm-up the background is replaced by the per-pixel median of
up to 15 frames sampled evenly over the warm-up, so that vehicles present in the first frame leave
no ghost. If more than ``max_foreground_fraction`` of the image turns foreground at once (camera
moved, exposure jump), the background is reset to the current frame.

Confidence is the blob's fill ratio: foreground pixels / box area, in (0, 1]. A vehicle seen as a
solid block fills 0.7-1.0 of its box; thin or scattered blobs (swaying branches, merged diagonal
fragments) score lower. It ranks blobs; it is not a calibrated probability.

Grey is the cheapest; a vehicle whose grey level is close to the road's (saturated red on grey
asphalt) then shows up only by its windows and edges. ``channels: bgr`` runs the kernel on each
colour channel (three backgrounds, about three times the cost) and finds it.

Limits: moving shadows are part of the blob (boxes extend toward the shadow side), vehicles that
touch or occlude each other in the image merge into one blob, a vehicle stopped for a long time
fades into the background, and a camera that moves breaks it. Per-source state is evicted by
:meth:`MotionDetector.forget`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.kernels.motion import connected_components, motion_update
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.detectors.base import Detector, DetectorConfig, register_detector
from carbonedge.vision.detectors.roi import RoiBox

logger = logging.getLogger(__name__)

__all__ = ["MotionDetector", "MotionDetectorConfig"]

_WARMUP_SAMPLES = 15


class MotionDetectorConfig(DetectorConfig):
    """Settings of the motion detector; rates are per frame, sizes in pixels of the frame."""

    type: Literal["motion"] = "motion"
    alpha: float = Field(0.02, gt=0, le=1, description="background learning rate per frame")
    alpha_foreground: float = Field(0.002, ge=0, le=1, description="rate under foreground pixels")
    threshold_levels: float = Field(
        25.0, gt=0, le=255, description="|frame - background| above this is foreground"
    )
    channels: Literal["gray", "bgr"] = Field("gray", description="bgr: any colour channel moves")
    blur_px: int = Field(2, ge=0, le=15, description="Gaussian blur radius before subtraction")
    open_px: int = Field(1, ge=0, le=15, description="opening radius that removes speckle")
    dilate_px: int = Field(3, ge=0, le=50, description="closing radius that merges fragments")
    min_area_px: int = Field(80, ge=1, description="smaller blobs are dropped (after closing)")
    warmup_frames: int = Field(30, ge=0, le=100_000, description="frames before detections start")
    max_foreground_fraction: float = Field(
        0.6, gt=0, le=1, description="more of the image foreground at once: reset the background"
    )


@dataclass
class _SourceState:
    background: NDArray[np.float32]  # (C, H, W) float32, C = 1 (grey) or 3 (BGR)
    mask: NDArray[np.uint8]  # (C, H, W) uint8 scratch
    frames: int = 0
    samples: list[NDArray[np.uint8]] = field(default_factory=list)


def _ellipse(radius_px: int) -> NDArray[np.uint8] | None:
    if radius_px <= 0:
        return None
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1, 2 * radius_px + 1))


@register_detector("motion", MotionDetectorConfig)
class MotionDetector(Detector):
    """Background-subtraction blobs as ``vehicle`` detections, one background per source."""

    name = "motion"
    class_names = ("vehicle",)
    needs_every_frame = True  # its background learns from every frame (and it is cheap)

    def __init__(self, config: MotionDetectorConfig) -> None:
        self.config = config
        self._states: dict[str, _SourceState] = {}
        self._open = _ellipse(config.open_px)
        self._close = _ellipse(config.dilate_px)
        self._stride = max(1, -(-config.warmup_frames // _WARMUP_SAMPLES))  # ceil division

    @property
    def source_ids(self) -> tuple[str, ...]:
        """Sources with a background in memory."""
        return tuple(self._states)

    def forget(self, source_id: str) -> None:
        """Drop the state of ``source_id`` (source removed or restarted); unknown ids: no-op."""
        self._states.pop(source_id, None)

    def warmup(self) -> None:
        """Run the kernels once on a dummy frame so that the first real frame is not slower."""
        gray = np.zeros((8, 8), np.uint8)
        mask = motion_update(
            gray,
            np.zeros((8, 8), np.float32),
            alpha=0.5,
            alpha_foreground=0.5,
            threshold_levels=1.0,
        )
        connected_components(mask)

    def close(self) -> None:
        self._states.clear()

    def detect(
        self, frame: Frame, roi_xyxy: RoiBox | None = None, zoom_xyxy: Sequence[RoiBox] = ()
    ) -> Detections:
        """Blobs of moving pixels in ``frame`` as (N, 4) float32 xyxy boxes, class 0 ("vehicle").

        ``roi_xyxy`` is ignored: the background model covers the whole frame (and this detector
        has no ``roi`` setting, so the ROI stage never sets one for it); so are ``zoom_xyxy``
        (no model to zoom)."""
        planes = self._planes(frame.image)
        state = self._states.get(frame.source_id)
        if state is None or state.background.shape != planes.shape:
            if state is not None:
                logger.warning(
                    "source %s: frame size changed to %s, relearning the background",
                    frame.source_id,
                    planes.shape[1:],
                )
            state = _SourceState(planes.astype(np.float32), np.empty_like(planes))
            self._states[frame.source_id] = state
        state.frames += 1
        if state.frames <= self.config.warmup_frames:
            self._learn(state, planes)
            return Detections.empty()
        cfg = self.config
        for c in range(planes.shape[0]):
            motion_update(
                planes[c],
                state.background[c],
                alpha=cfg.alpha,
                alpha_foreground=cfg.alpha_foreground,
                threshold_levels=cfg.threshold_levels,
                out_mask=state.mask[c],
            )
        mask = state.mask[0] if planes.shape[0] == 1 else np.bitwise_or.reduce(state.mask, axis=0)
        if np.count_nonzero(mask) > cfg.max_foreground_fraction * mask.size:
            logger.warning(
                "source %s: %.0f%% of frame %d is foreground, resetting the background",
                frame.source_id,
                100.0 * np.count_nonzero(mask) / mask.size,
                frame.index,
            )
            state.background[...] = planes
            return Detections.empty()
        return self._blobs(mask)

    def _planes(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """(C, H, W) uint8 blurred planes: grey (C = 1) or B, G, R (C = 3)."""
        if image.ndim == 2:
            image = image[:, :, None]
        if self.config.channels == "gray" and image.shape[2] == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[:, :, None]
        b = self.config.blur_px
        if b > 0:
            image = cv2.GaussianBlur(image, (2 * b + 1, 2 * b + 1), 0).reshape(image.shape)
        return np.ascontiguousarray(np.moveaxis(image, 2, 0))

    def _learn(self, state: _SourceState, planes: NDArray[np.uint8]) -> None:
        """Warm-up: sample frames; at the last warm-up frame the background becomes their median."""
        if (state.frames - 1) % self._stride == 0:
            state.samples.append(planes)
        if state.frames == self.config.warmup_frames:
            state.background[...] = np.median(np.stack(state.samples), axis=0)
            state.samples = []

    def _blobs(self, mask: NDArray[np.uint8]) -> Detections:
        if self._open is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._open)
        if self._close is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._close)
        xyxy, area = connected_components(mask, min_area_px=self.config.min_area_px)
        box_area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
        confidence = np.minimum(area / np.maximum(box_area, 1.0), 1.0).astype(np.float32)
        return Detections(xyxy, confidence, np.zeros(len(area), np.int32))

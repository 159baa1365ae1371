"""Fused detector: a model's boxes, plus sensitive motion blobs where the model saw nothing.

At dusk, into glare and haze, and for vehicles a few pixels tall, a COCO model at 416 px sees
little (event F1 0 to 0.1 on the hard-condition truth clips), while the vehicles still move. The
weight-free motion detector (``motion.py``), made sensitive (a lower threshold, small blobs),
finds many of them, but on its own it merges neighbours and knows no classes. Fused: every box
of the model is kept with its class; a motion blob is added as class ``vehicle`` only where no
model box of at least ``cover_score`` covers it (intersection over the blob's area below
``max_overlap``; weaker boxes only continue tracks, they stand for no vehicle), so by day the
model decides and in the dark the motion fills in. Blobs larger than ``max_blob_fraction`` of
the image (a lighting change the background model has not caught up with) are dropped.

The motion part keeps a background per source, so this detector needs every frame (no motion
gating) and forgets a source's background when it ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, field_validator

from carbonedge.kernels.geometry import intersection_over_area
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.detectors.base import (
    DETECTORS,
    CropOfInner,
    Detector,
    DetectorConfig,
    create_detector,
    register_detector,
)
from carbonedge.vision.detectors.headlights import HeadlightPairs, HeadlightsConfig, PairBoxes
from carbonedge.vision.detectors.motion import MotionDetectorConfig
from carbonedge.vision.detectors.roi import RoiBox

__all__ = ["FusedConfig", "FusedDetector"]


def _sensitive_motion() -> MotionDetectorConfig:
    """Motion settings that see dim, low-contrast and small movers (dusk, glare, 5-10 px cars)."""
    return MotionDetectorConfig(
        threshold_levels=12.0, min_area_px=20, warmup_frames=15, dilate_px=2
    )


class FusedConfig(DetectorConfig):
    type: Literal["fused"] = "fused"
    detector: dict[str, Any] = Field(
        default_factory=lambda: {"type": "picodet"},
        description="the model detector's own settings (any detector type but fused and motion)",
    )
    motion: MotionDetectorConfig = Field(
        default_factory=_sensitive_motion,
        description="the motion detector's settings (defaults more sensitive than motion's own: "
        "threshold 12 grey levels, blobs from 20 px, 15 warm-up frames, closing radius 2 px)",
    )
    max_overlap: float = Field(
        0.3, ge=0, le=1,
        description="a motion blob covered by a model box more than this (intersection over the "
        "blob's area) is the model's vehicle: dropped",
    )  # fmt: skip
    cover_score: float = Field(
        0.4, ge=0, le=1,
        description="only model boxes from this score hide a motion blob or a lamp pair (the "
        "tracker's high_score: weaker boxes only continue tracks)",
    )  # fmt: skip
    max_blob_fraction: float = Field(
        0.1, gt=0, le=1, description="motion blobs over this fraction of the image are dropped"
    )
    headlights: bool | HeadlightsConfig = Field(
        False,
        description="true (or settings): also head/tail-light pairs as vehicles where no model "
        "box covers them, only in dark scenes (vision/detectors/headlights.py)",
    )

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: dict[str, Any]) -> dict[str, Any]:
        kind = value.get("type")
        if kind in ("fused", "motion") or kind not in DETECTORS.names():
            raise ValueError(
                f"detector.type must be one of the model detectors "
                f"{[n for n in DETECTORS.names() if n not in ('fused', 'motion')]}, got {kind!r}"
            )
        _config_of(value)  # its own settings are checked now, not at start-up
        return value


def _config_of(settings: dict[str, Any]) -> DetectorConfig:
    by_name = dict(zip(DETECTORS.names(), DETECTORS.config_classes(), strict=True))
    return by_name[settings["type"]].model_validate(settings)


def _covered(blobs: NDArray[np.float32], boxes: NDArray[np.float32]) -> NDArray[np.float64]:
    """(B,) largest fraction of each blob's area inside any one of ``boxes``."""
    if len(blobs) == 0 or len(boxes) == 0:
        return np.zeros(len(blobs))
    return intersection_over_area(blobs, boxes).max(axis=1)


@register_detector("fused", FusedConfig)
class FusedDetector(CropOfInner, Detector):
    needs_every_frame = True  # the motion part's background learns from every frame

    def __init__(self, config: FusedConfig) -> None:
        self.config = config
        self.model = create_detector(_config_of(config.detector))
        self.motion = create_detector(config.motion)
        names = tuple(self.model.class_names)
        self._vehicle_id = names.index("vehicle") if "vehicle" in names else len(names)
        self.class_names = names if "vehicle" in names else (*names, "vehicle")
        self.name = f"fused:{self.model.name}+motion"
        lamps = HeadlightsConfig() if config.headlights is True else config.headlights
        self.headlights = HeadlightPairs(lamps) if lamps else None
        if self.headlights is not None:
            self.name += "+headlights"
            if self.headlights.plane is not None and "hgv" not in self.class_names:
                self.class_names = (*self.class_names, "hgv")
            self._hgv_id = self.class_names.index("hgv") if "hgv" in self.class_names else -1

    @property
    def crop_inner(self) -> Detector:
        return self.model  # the crop settings are the model's (CropOfInner)

    def detect(
        self, frame: Frame, roi_xyxy: RoiBox | None = None, zoom_xyxy: Sequence[RoiBox] = ()
    ) -> Detections:
        found = self.model.detect(frame, roi_xyxy, zoom_xyxy)  # motion and lamps look once
        blobs = self.motion.detect(frame, roi_xyxy)
        if self.headlights is not None:  # before the blobs: a blob on a pair's box is that car
            found = self._with_pairs(found, self.headlights.detect(frame, roi_xyxy))
        if len(blobs) == 0:
            return found
        h, w = frame.shape_hw
        wh = blobs.xyxy[:, 2:] - blobs.xyxy[:, :2]
        small = wh[:, 0] * wh[:, 1] <= self.config.max_blob_fraction * h * w
        free = _covered(blobs.xyxy, self._covering(found)) <= self.config.max_overlap
        add = small & free
        if not add.any():
            return found
        n = int(add.sum())
        return Detections(
            np.concatenate([found.xyxy, blobs.xyxy[add]]),
            np.concatenate([found.confidence, blobs.confidence[add]]),
            np.concatenate([found.class_id, np.full(n, self._vehicle_id, np.int32)]),
            source_row=np.concatenate([found.source_row, np.full(n, -1, np.int32)]),
        )

    def _covering(self, found: Detections) -> NDArray[np.float32]:
        """The model's boxes strong enough to stand for a vehicle by themselves."""
        return found.xyxy[found.confidence >= self.config.cover_score]

    def _with_pairs(self, found: Detections, pairs: PairBoxes) -> Detections:
        """``found`` plus the lamp-pair boxes no model box covers (class vehicle, or hgv)."""
        add = _covered(pairs.xyxy, self._covering(found)) <= self.config.max_overlap
        if not add.any():
            return found
        n = int(add.sum())
        classes = np.where(pairs.hgv[add], self._hgv_id, self._vehicle_id).astype(np.int32)
        return Detections(
            np.concatenate([found.xyxy, pairs.xyxy[add]]),
            np.concatenate([found.confidence, pairs.confidence[add]]),
            np.concatenate([found.class_id, classes]),
            source_row=np.concatenate([found.source_row, np.full(n, -1, np.int32)]),
        )

    def warmup(self) -> None:
        self.model.warmup()
        self.motion.warmup()
        if self.headlights is not None:
            self.headlights.warmup()

    def forget(self, source_id: str) -> None:
        self.model.forget(source_id)
        self.motion.forget(source_id)
        if self.headlights is not None:
            self.headlights.forget(source_id)

    def close(self) -> None:
        self.model.close()
        self.motion.close()

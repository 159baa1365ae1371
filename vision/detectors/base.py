"""Detector plugin point: an ABC, a registry and a pydantic config class per backend.

A new backend is one new file in this folder that defines a config class (with a ``type`` literal)
and a ``Detector`` subclass decorated with ``@register_detector``; core code does not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Literal

from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from carbonedge.runtime.base.plugins import Registry
from carbonedge.runtime.base.types import Detections, Frame
from carbonedge.vision.detectors.roi import RoiBox
from carbonedge.vision.detectors.zoom import ZoomConfig


class DetectorConfig(BaseModel):
    """Base of every detector config; subclasses add ``type: Literal[...]`` and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Detector(ABC):
    """Turns a frame into detections in the frame's pixel coordinates.

    One instance serves every camera (from several threads at once): a detector keeps no
    per-camera state, only per-thread buffers, unless it ``needs_every_frame`` (a background
    model is per source by nature). What part of a frame to look at is the caller's: the ROI
    stage asks ``roi_box`` once per camera and frame size and passes the box to ``detect``.

    Attributes:
        name: short description for logs and summaries (e.g. "yolox:yolox_nano_416.onnx").
        class_names: names indexed by ``Detections.class_id``.
        needs_every_frame: True for a detector with per-frame state (a background model): the
            runtime must not skip frames for it (motion gating is off for such a detector).
    """

    name: str = "detector"
    class_names: tuple[str, ...] = ()
    needs_every_frame: bool = False

    @abstractmethod
    def detect(
        self, frame: Frame, roi_xyxy: RoiBox | None = None, zoom_xyxy: Sequence[RoiBox] = ()
    ) -> Detections:
        """Detections for one frame, in full-frame px; never keeps a reference to ``frame.image``.

        ``roi_xyxy``: (x0, y0, x1, y1) px, x1/y1 exclusive, inside the frame: look only there
        (``roi_box`` gives it); None: the whole frame. A detector without ROI support ignores it.
        ``zoom_xyxy``: windows (frame px) to look at again at the model's full input size
        (``zoom.py``; the zoom stage passes them); a detector whose ``zoom`` is None (no model,
        or ``zoom: off``) ignores them.
        """

    @property
    def detect_fps(self) -> float | None:
        """A camera's frames per second that go through the detector, tracker and analytics at
        most: the pipeline lets the others skip them (``runtime/stride.py``); None: every frame."""
        return None

    @property
    def roi(self) -> Literal["auto"] | RoiBox | None:
        """The region its config asks for: "auto" (around a camera's lines and zones), a fixed
        (x0, y0, x1, y1) px box, or None (the whole frame; a detector without the setting)."""
        return None

    @property
    def zoom(self) -> ZoomConfig | None:
        """Its zoom windows' settings (``zoom.py``); None: it takes no ``zoom_xyxy``."""
        return None

    def model_px_per_frame_px(self, frame_hw: tuple[int, int]) -> float:
        """How much taller a road user looks to the model than in a frame of ``frame_hw``."""
        return 1.0

    def model_px_per_frame_px_xy(self, frame_hw: tuple[int, int]) -> tuple[float, float]:
        """How much wider and taller (x, y) a road user looks to the model than in a frame of
        ``frame_hw`` (a model that stretches the frame to its input scales the axes apart)."""
        scale = self.model_px_per_frame_px(frame_hw)
        return scale, scale

    @property
    def roi_learn_vehicles(self) -> int | None:
        """Vehicles a camera must see at its lines before ``roi_box`` gets learned margins;
        None: the margins (if any) come from the config, nothing to learn."""
        return None

    @property
    def roi_learned(self) -> str:
        """What a learned crop does: "propose" (logged, in /healthz; detection stays
        whole-frame) or "apply" (detect inside it)."""
        return "propose"

    def roi_box(
        self,
        frame_hw: tuple[int, int],
        regions_px: Sequence[NDArray] = (),
        margin_px: float | Sequence[float] | None = None,
    ) -> RoiBox | None:
        """The box to pass to ``detect`` for a camera's frames of ``frame_hw`` (height, width)
        whose lines and zones are ``regions_px`` (each (K, 2) x, y px), grown by ``margin_px``
        where the config leaves the margin to be learned; None: the whole frame.
        Pure (no state); ``ValueError`` when the configured region lies outside the frame."""
        return None

    def warmup(self) -> None:
        """Run once before reporting ready (JIT compile, first inference)."""

    def forget(self, source_id: str) -> None:
        """Drop any per-source state (a background model, say) once that source has ended."""

    def close(self) -> None:
        """Release resources (sessions, threads)."""


class CropOfInner:
    """Mixin of a detector that wraps another (``crop_inner``) and detects inside that one's
    crop and rate: ``roi``, ``roi_learn_vehicles``, ``roi_learned``, ``roi_box``, ``zoom`` and
    ``detect_fps`` are the inner detector's (the fused detector's model, a camera's light-profile
    detector)."""

    crop_inner: Detector

    @property
    def detect_fps(self) -> float | None:
        return self.crop_inner.detect_fps

    @property
    def roi(self) -> Literal["auto"] | RoiBox | None:
        return self.crop_inner.roi

    @property
    def roi_learn_vehicles(self) -> int | None:
        return self.crop_inner.roi_learn_vehicles

    @property
    def zoom(self) -> ZoomConfig | None:
        return self.crop_inner.zoom

    def model_px_per_frame_px(self, frame_hw: tuple[int, int]) -> float:
        return self.crop_inner.model_px_per_frame_px(frame_hw)

    def model_px_per_frame_px_xy(self, frame_hw: tuple[int, int]) -> tuple[float, float]:
        return self.crop_inner.model_px_per_frame_px_xy(frame_hw)

    @property
    def roi_learned(self) -> str:
        return self.crop_inner.roi_learned

    def roi_box(
        self,
        frame_hw: tuple[int, int],
        regions_px: Sequence[NDArray] = (),
        margin_px: float | Sequence[float] | None = None,
    ) -> RoiBox | None:
        return self.crop_inner.roi_box(frame_hw, regions_px, margin_px)


DETECTORS: Registry[DetectorConfig, Detector] = Registry("detector")

#: The product's default detector (what ``carbonedge audit`` runs when a truth file names none):
#: PicoDet-S 416 counted best on the hand-counted dev clips (README, Road taxonomy).
DEFAULT_DETECTOR: dict[str, str] = {"type": "picodet"}

#: Class decorator: ``@register_detector("yolox", YoloxConfig)``.
register_detector = DETECTORS.register


def create_detector(config: DetectorConfig) -> Detector:
    """Build the detector that ``config`` (one of the registered config classes) describes."""
    return DETECTORS.create(config)

"""Detector plugin point: an ABC, a registry and a pydantic config class per backend.

A new backend is one new file in this folder that defines a config class (with a ``type`` literal)
and a ``Detector`` subclass decorated with ``@register_detector``; core code does not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from pydantic import BaseModel, ConfigDict

from carbonedge.runtime.base.plugins import Registry
from carbonedge.runtime.base.types import Detections, Frame


class DetectorConfig(BaseModel):
    """Base of every detector config; subclasses add ``type: Literal[...]`` and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Detector(ABC):
    """Turns a frame into detections in the frame's pixel coordinates.

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
    def detect(self, frame: Frame) -> Detections:
        """Detections for one frame; never keeps a reference to ``frame.image``."""

    def warmup(self) -> None:
        """Run once before reporting ready (JIT compile, first inference)."""

    def forget(self, source_id: str) -> None:
        """Drop any per-source state (a background model, say) once that source has ended."""

    def use_regions(self, source_id: str, regions_px: list) -> None:
        """The areas of ``source_id`` that the analytics use (counting lines, zones; each a
        (K, 2) x, y px array), given before its first frame; a detector may look only there."""

    def close(self) -> None:
        """Release resources (sessions, threads)."""


DETECTORS: Registry[DetectorConfig, Detector] = Registry("detector")

#: Class decorator: ``@register_detector("yolox", YoloxConfig)``.
register_detector = DETECTORS.register


def create_detector(config: DetectorConfig) -> Detector:
    """Build the detector that ``config`` (one of the registered config classes) describes."""
    return DETECTORS.create(config)

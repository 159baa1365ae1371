"""Detector plugin point: an ABC, a registry and a pydantic config class per backend.

A new backend is one new file in this folder that defines a config class (with a ``type`` literal)
and a ``Detector`` subclass decorated with ``@register_detector``; core code does not change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Callable, TypeVar

from pydantic import BaseModel, ConfigDict

from carbonedge.runtime.types import Detections, Frame


class DetectorConfig(BaseModel):
    """Base of every detector config; subclasses add ``type: Literal[...]`` and their fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Detector(ABC):
    """Turns a frame into detections in the frame's pixel coordinates.

    Attributes:
        name: short description for logs and summaries (e.g. "yolox:yolox_nano_416.onnx").
        class_names: names indexed by ``Detections.class_id``.
    """

    name: str = "detector"
    class_names: tuple[str, ...] = ()

    @abstractmethod
    def detect(self, frame: Frame) -> Detections:
        """Detections for one frame; never keeps a reference to ``frame.image``."""

    def warmup(self) -> None:
        """Run once before reporting ready (JIT compile, first inference)."""

    def close(self) -> None:
        """Release resources (sessions, threads)."""


_D = TypeVar("_D", bound=type[Detector])
_REGISTRY: dict[str, tuple[type[DetectorConfig], type[Detector]]] = {}


def register_detector(type_name: str, config_cls: type[DetectorConfig]) -> Callable[[_D], _D]:
    """Class decorator: make ``type: <type_name>`` in the config build this detector."""

    def decorate(cls: _D) -> _D:
        _REGISTRY[type_name] = (config_cls, cls)
        return cls

    return decorate


def detector_config_classes() -> tuple[type[DetectorConfig], ...]:
    return tuple(cfg for cfg, _ in _REGISTRY.values())


def create_detector(config: DetectorConfig) -> Detector:
    """Build the detector that ``config`` (one of the registered config classes) describes."""
    for cfg_cls, det_cls in _REGISTRY.values():
        if type(config) is cfg_cls:
            return det_cls(config)  # type: ignore[call-arg]
    raise TypeError(f"no detector registered for config {type(config).__name__}")

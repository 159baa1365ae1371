"""Detector backends. Importing this package registers every built-in backend."""

from carbonedge.vision.detectors import (  # noqa: F401
    deimv2,
    fused,
    motion,
    picodet,
    ultralytics,
    yolox,
)
from carbonedge.vision.detectors.base import Detector, DetectorConfig, create_detector

__all__ = ["Detector", "DetectorConfig", "create_detector"]

"""Detector backends. Importing this package registers every built-in backend."""

from carbonedge.vision.detectors import deimv2, motion, picodet, ultralytics, yolox  # noqa: F401
from carbonedge.vision.detectors.base import Detector, DetectorConfig, create_detector

__all__ = ["Detector", "DetectorConfig", "create_detector"]

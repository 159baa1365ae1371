"""carbonedge.vision.counting: counting lines (and zones) over tracked ``Detections``."""

from carbonedge.vision.counting.line import LineConfig, LineCounter

__all__ = ["LineConfig", "LineCounter"]

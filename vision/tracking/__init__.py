"""carbonedge.vision.tracking: multi-object trackers over ``Detections``."""

from carbonedge.vision.tracking.bytetrack import ByteTrack, ByteTrackConfig

__all__ = ["ByteTrack", "ByteTrackConfig"]

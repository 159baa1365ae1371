"""Frame sources. Importing this package registers every built-in source type."""

from carbonedge.devices.sources import (  # noqa: F401
    gstreamer,
    image_folder,
    rtsp,
    snapshot,
    synthetic,
    v4l2,
    video_file,
)
from carbonedge.devices.sources.base import FrameSource, SourceConfig, create_source

__all__ = ["FrameSource", "SourceConfig", "create_source"]

"""Frame sources. Importing this package registers every built-in source type."""

from carbonedge.devices.sources import synthetic, video_file  # noqa: F401
from carbonedge.devices.sources.base import FrameSource, SourceConfig, create_source

__all__ = ["FrameSource", "SourceConfig", "create_source"]

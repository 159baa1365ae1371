"""USB / V4L2 camera (``/dev/videoN`` or an index) through OpenCV's V4L2 backend.

A camera that is unplugged disappears (its device node vanishes or reads fail); the source
reports ``connecting`` and retries with backoff until it is plugged in again. Size, pixel format
(``fourcc``, e.g. MJPG for 1080p over USB 2) and frame rate are requests: the driver may pick the
nearest mode it supports, and the source logs what it got.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import cv2
from pydantic import Field

from carbonedge.devices.sources.base import register_source
from carbonedge.devices.sources.live import Grabbed, LiveSource, LiveSourceConfig
from carbonedge.devices.sources.opencv_capture import capture_fps, grab_frame
from carbonedge.runtime.base.errors import DeviceError

logger = logging.getLogger(__name__)


class V4l2Config(LiveSourceConfig):
    type: Literal["v4l2"] = "v4l2"
    device: str | int = Field("/dev/video0", description="device node or index")
    width_px: int | None = Field(
        None,
        ge=16,
        le=8192,
        description="capture width asked of the camera (default: the camera's)",
    )
    height_px: int | None = Field(
        None,
        ge=16,
        le=8192,
        description="capture height asked of the camera (default: the camera's)",
    )
    fourcc: str | None = Field(None, min_length=4, max_length=4, description="e.g. MJPG, YUYV")


@register_source("v4l2", V4l2Config)
class V4l2Source(LiveSource):
    """Frames from a local USB/V4L2 camera."""

    config: V4l2Config

    def describe(self) -> str:
        return f"V4L2 camera {self.config.device}"

    def _connect(self) -> Any:
        c = self.config
        if isinstance(c.device, str) and not Path(c.device).exists():
            raise DeviceError(f"{self.describe()}: no such device (unplugged?)")
        cap = cv2.VideoCapture(c.device, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(f"{self.describe()}: cannot open (busy, or not a capture device)")
        if c.fourcc:
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*c.fourcc))
        if c.width_px:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, c.width_px)
        if c.height_px:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, c.height_px)
        if c.fps:
            cap.set(cv2.CAP_PROP_FPS, c.fps)
        elif (fps := capture_fps(cap)) is not None:
            self.fps = fps
        logger.info("source %s: %s opened at %dx%d, %.1f fps", self.source_id, self.describe(),
                    int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                    self.fps)  # fmt: skip
        return cap

    def _grab(self, handle: Any) -> Grabbed | None:
        return grab_frame(handle)

    def _release(self, handle: Any) -> None:
        handle.release()

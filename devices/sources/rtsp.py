"""RTSP camera (OpenCV's FFmpeg backend), TCP or UDP transport, with reconnect and freeze checks.

``transport: tcp`` (default) interleaves RTP in the RTSP connection: no lost packets and it passes
NAT and firewalls; ``udp`` has less latency but smears frames when packets are lost. The URL may
hold credentials (``rtsp://user:${CAM_PW}@host/...``); they are never logged or put in an error.
Connect and read timeouts are OpenCV's ``CAP_PROP_OPEN_TIMEOUT_MSEC`` and
``CAP_PROP_READ_TIMEOUT_MSEC``: a dead camera blocks the decode thread no longer than those.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import cv2
from pydantic import Field, field_validator

from carbonedge.devices.redact import redact
from carbonedge.devices.sources.base import register_source
from carbonedge.devices.sources.live import Grabbed, LiveSource, LiveSourceConfig
from carbonedge.devices.sources.opencv_capture import capture_fps, grab_frame, open_capture
from carbonedge.runtime.base.errors import DeviceError

logger = logging.getLogger(__name__)


class RtspConfig(LiveSourceConfig):
    type: Literal["rtsp"] = "rtsp"
    url: str = Field(repr=False, description="rtsp:// or rtsps:// URL; may hold credentials")
    transport: Literal["tcp", "udp"] = Field(
        "tcp",
        description="RTP over the RTSP TCP connection (robust) or UDP",
    )
    connect_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="how long opening the stream may take",
    )
    read_timeout_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="no frame this long counts as a disconnect (reconnects with backoff)",
    )

    @field_validator("url")
    @classmethod
    def _rtsp_scheme(cls, url: str) -> str:
        if not url.lower().startswith(("rtsp://", "rtsps://")):
            raise ValueError("expected an rtsp:// or rtsps:// URL")
        return url


@register_source("rtsp", RtspConfig)
class RtspSource(LiveSource):
    """Frames from an RTSP camera (see the module docstring)."""

    config: RtspConfig

    def describe(self) -> str:
        return f"{redact(self.config.url)} ({self.config.transport})"

    def _connect(self) -> Any:
        c = self.config
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(c.connect_timeout_s * 1000),
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(c.read_timeout_s * 1000)]  # fmt: skip
        cap = open_capture(c.url, cv2.CAP_FFMPEG, params, {"rtsp_transport": c.transport})
        if not cap.isOpened():
            cap.release()
            raise DeviceError(f"{self.describe()}: cannot open the stream")
        if c.fps is None and (fps := capture_fps(cap)) is not None:
            self.fps = fps
        logger.info("source %s: connected to %s at %.1f fps", self.source_id, self.describe(),
                    self.fps)  # fmt: skip
        return cap

    def _grab(self, handle: Any) -> Grabbed | None:
        return grab_frame(handle)

    def _release(self, handle: Any) -> None:
        handle.release()

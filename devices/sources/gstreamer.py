"""GStreamer pipeline source: an ``appsink``-terminated launch string read through OpenCV.

Only works where OpenCV was built with GStreamer (Debian's ``python3-opencv``, Jetson images).
The pip wheel (``opencv-python``) has no GStreamer: then the source fails at open with one line
that says so, instead of retrying a pipeline that can never open. Credentials inside the pipeline
(``location=rtsp://user:pw@...``, ``user-pw=...``) are removed from every message.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import cv2
from pydantic import Field, field_validator

from carbonedge.devices.redact import redact
from carbonedge.devices.sources.base import register_source
from carbonedge.devices.sources.live import (
    Grabbed,
    LiveSource,
    LiveSourceConfig,
    PermanentSourceError,
)
from carbonedge.devices.sources.opencv_capture import capture_fps, grab_frame, has_backend
from carbonedge.runtime.base.errors import DeviceError

logger = logging.getLogger(__name__)


class GStreamerConfig(LiveSourceConfig):
    type: Literal["gstreamer"] = "gstreamer"
    pipeline: str = Field(
        repr=False, min_length=1, description="gst-launch string ending in 'appsink'"
    )

    @field_validator("pipeline")
    @classmethod
    def _ends_in_appsink(cls, pipeline: str) -> str:
        if "appsink" not in pipeline:
            raise ValueError("the pipeline must end in an appsink element (OpenCV reads from it)")
        return pipeline


@register_source("gstreamer", GStreamerConfig)
class GStreamerSource(LiveSource):
    """Frames from a GStreamer launch string (needs an OpenCV built with GStreamer)."""

    config: GStreamerConfig

    def describe(self) -> str:
        return f"GStreamer pipeline '{redact(self.config.pipeline)}'"

    def _connect(self) -> Any:
        if not has_backend(cv2.CAP_GSTREAMER):
            raise PermanentSourceError(
                "this OpenCV build has no GStreamer support (cv2.getBuildInformation() shows "
                "'GStreamer: NO', as in the opencv-python wheel); use an OpenCV built with "
                "GStreamer, or type: rtsp / video_file"
            )
        cap = cv2.VideoCapture(self.config.pipeline, cv2.CAP_GSTREAMER)
        if not cap.isOpened():
            cap.release()
            raise DeviceError(f"{self.describe()}: cannot start the pipeline")
        if self.config.fps is None and (fps := capture_fps(cap)) is not None:
            self.fps = fps
        return cap

    def _grab(self, handle: Any) -> Grabbed | None:
        return grab_frame(handle)

    def _release(self, handle: Any) -> None:
        handle.release()

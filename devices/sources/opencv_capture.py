"""Shared helpers for the sources that read through ``cv2.VideoCapture`` (RTSP, V4L2, GStreamer).

OpenCV's FFmpeg backend takes demuxer options (such as ``rtsp_transport;tcp``) only from the
environment variable ``OPENCV_FFMPEG_CAPTURE_OPTIONS``, read when a capture opens. ``open_capture``
sets it for the duration of one constructor call under a lock and restores it afterwards, so
sources with different options can open concurrently and the process environment is left as found.
"""

from __future__ import annotations

import math
import os
import threading
from typing import Any

import cv2

from carbonedge.devices.sources.live import Grabbed

FFMPEG_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
_ENV_LOCK = threading.Lock()


def open_capture(
    target: str | int,
    api: int,
    params: list[int] | None = None,
    ffmpeg_options: dict[str, str] | None = None,
) -> cv2.VideoCapture:
    """``cv2.VideoCapture(target, api, params)`` with FFmpeg ``ffmpeg_options`` for this open."""
    with _ENV_LOCK:
        previous = os.environ.get(FFMPEG_OPTIONS_ENV)
        if ffmpeg_options:
            os.environ[FFMPEG_OPTIONS_ENV] = "|".join(f"{k};{v}" for k, v in ffmpeg_options.items())
        try:
            return cv2.VideoCapture(target, api, params or [])
        finally:
            if previous is None:
                os.environ.pop(FFMPEG_OPTIONS_ENV, None)
            else:
                os.environ[FFMPEG_OPTIONS_ENV] = previous


def capture_fps(cap: cv2.VideoCapture) -> float | None:
    """The frame rate the capture reports, or None when it reports none that is plausible."""
    fps = cap.get(cv2.CAP_PROP_FPS)
    return float(fps) if math.isfinite(fps) and 0 < fps <= 1000 else None


def grab_frame(cap: Any) -> Grabbed | None:
    """Read one frame (stamped when ``read`` returns); None when the stream broke or timed out."""
    ok, image = cap.read()
    return Grabbed.now(image) if ok and image is not None else None


def has_backend(api: int) -> bool:
    """Whether this OpenCV build can use backend ``api`` (e.g. ``cv2.CAP_GSTREAMER``).

    ``getBackends()`` lists backends a build merely knows of (the pip wheel lists GStreamer and
    cannot use it); ``hasBackend`` says whether it is built in or its plugin loads.
    """
    return bool(cv2.videoio_registry.hasBackend(api))

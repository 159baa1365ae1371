"""Video file source (OpenCV/FFmpeg): frames in order, media time as the analytics clock.

Files are processed as fast as possible by default (no frame is dropped); ``realtime: true`` paces
reading to the file's frame rate, as a live camera would deliver it. ``Frame.t_mono_s`` is the media
time (index / fps) and ``Frame.t_wall_s`` is ``start_wall`` + media time, so summaries of a file are
deterministic and reprocessing it yields the same summary ids.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from carbonedge.devices.sources.base import FrameSource, SourceConfig, register_source
from carbonedge.runtime.errors import SourceOpenError
from carbonedge.runtime.types import Frame

logger = logging.getLogger(__name__)


class VideoFileConfig(SourceConfig):
    type: Literal["video_file"] = "video_file"
    path: Path
    fps: float | None = Field(
        None, gt=0, le=1000, description="override the container's frame rate"
    )
    realtime: bool = False
    start_wall: datetime | None = Field(
        None, description="UTC wall time of the first frame; default: now"
    )
    max_frames: int | None = Field(None, ge=1)
    max_consecutive_errors: int = Field(30, ge=1, description="undecodable frames in a row -> end")


@register_source("video_file", VideoFileConfig)
class VideoFileSource(FrameSource):
    def __init__(self, config: VideoFileConfig) -> None:
        self.config = config
        self.source_id = config.id
        self.fps = config.fps or 25.0
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._frame_count = 0
        self._start_wall_s = 0.0
        self._start_mono_s = 0.0
        self.decode_errors = 0

    def open(self) -> None:
        path = self.config.path
        if not path.is_file():
            raise SourceOpenError(f"source {self.source_id!r}: video file {path} does not exist")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceOpenError(
                f"source {self.source_id!r}: {path} is not a readable video "
                "(OpenCV/FFmpeg cannot open it)"
            )
        ok, first = cap.read()
        if not ok or first is None or first.size == 0:
            cap.release()
            raise SourceOpenError(f"source {self.source_id!r}: {path} contains no decodable frames")
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        container_fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = self.config.fps or (container_fps if 0 < container_fps < 1000 else 25.0)
        self._frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        start = self.config.start_wall or datetime.now(timezone.utc)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self._start_wall_s = start.timestamp()
        self._start_mono_s = time.monotonic()
        self._cap, self._index = cap, 0
        logger.info("opened %s: %d frames at %.2f fps", path, self._frame_count, self.fps)

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceOpenError(f"source {self.source_id!r}: read() before open()")
        if self.config.max_frames is not None and self._index >= self.config.max_frames:
            return None
        image = self._read_image()
        if image is None:
            return None
        t_media_s = self._index / self.fps
        if self.config.realtime:
            delay = self._start_mono_s + t_media_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        frame = Frame(
            self.source_id,
            self._index,
            t_media_s,
            self._start_wall_s + t_media_s,
            np.ascontiguousarray(image),
            self.fps,
        )
        self._index += 1
        return frame

    def _read_image(self) -> np.ndarray | None:
        """Next decodable image; a corrupt frame is counted and skipped (its index is kept)."""
        errors = 0
        while errors < self.config.max_consecutive_errors:
            ok, image = self._cap.read()  # type: ignore[union-attr]
            if ok and image is not None and image.ndim == 3 and image.shape[2] == 3:
                return image
            if not ok and (self._frame_count == 0 or self._index >= self._frame_count - 1):
                return None  # end of stream
            errors += 1
            self.decode_errors += 1
            logger.warning(
                "source %s: frame %d could not be decoded; skipped", self.source_id, self._index
            )
            self._index += 1
        logger.error("source %s: %d undecodable frames in a row; stopping", self.source_id, errors)
        return None

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

"""Where the annotate stage's drawn frames go: one MP4 for the run, and/or a clip per alarm.

Runs on the stage's writer thread only (never on the pipeline thread). ``AnnotatedOutputs.write``
takes one drawn frame (BGR uint8) and the alarms that started on it:

- ``path``: every frame goes into one MP4 (``mp4v``, the source's frame rate);
- ``clips_dir``: the last ``clip_before_s`` seconds are kept as JPEG (a 1080p frame is ~0.2 MB,
  not 6 MB), and an alarm opens ``<camera>-<kind>-<UTC time>-f<frame>.mp4`` holding those
  frames and the next ``clip_after_s`` seconds; an alarm during a clip extends it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.runtime.annotate_config import AnnotateConfig

logger = logging.getLogger(__name__)

__all__ = ["AnnotatedOutputs", "open_mp4"]

_JPEG_QUALITY = 90


def open_mp4(path: Path, fps: float, width: int, height: int) -> Any:
    """An open ``cv2.VideoWriter`` (``mp4v``); ``OSError`` naming the file when it cannot open."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                             (int(width), int(height)))  # fmt: skip
    if not writer.isOpened():
        raise OSError(f"cannot open {path} for writing (mp4v, {width}x{height})")
    return writer


class AnnotatedOutputs:
    """The run's MP4 and the alarm clips of one camera (writer thread only)."""

    def __init__(self, config: AnnotateConfig, camera_id: str, fps: float) -> None:
        self.config, self.camera_id = config, camera_id
        self.fps = float(fps) if fps and fps > 0 else 25.0
        self.written = 0  # frames in the run's MP4
        self.clips: list[Path] = []  # clips written (or being written)
        self._video: Any = None
        self._before: deque[bytes] = deque(maxlen=max(1, round(config.clip_before_s * self.fps)))
        self._clip: Any = None
        self._clip_frames_left = 0

    def write(self, drawn: NDArray[np.uint8], index: int, t_wall_s: float,
              alarms: Sequence[str] = ()) -> None:  # fmt: skip
        """One drawn (H, W, 3) uint8 frame; ``alarms``: kinds of the alarms that started on it."""
        height, width = drawn.shape[:2]
        if self.config.path is not None:
            if self._video is None:
                self._video = open_mp4(self.config.path, self.fps, width, height)
            self._video.write(drawn)
            self.written += 1
        if self.config.clips_dir is None:
            return
        if alarms:
            self._start_clip(alarms[0], index, t_wall_s, width, height)
        if self._clip is not None:
            self._clip.write(drawn)
            self._clip_frames_left -= 1
            if self._clip_frames_left <= 0:
                self._clip.release()
                self._clip = None
        elif self.config.clip_before_s > 0:
            ok, jpeg = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY])
            if ok:
                self._before.append(jpeg.tobytes())

    def _start_clip(self, kind: str, index: int, t_wall_s: float, width: int, height: int) -> None:
        after = max(1, round(self.config.clip_after_s * self.fps))
        if self._clip is not None:  # an alarm during a clip makes it longer
            self._clip_frames_left = max(self._clip_frames_left, after)
            return
        assert self.config.clips_dir is not None
        self.config.clips_dir.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t_wall_s))
        path = self.config.clips_dir / f"{self.camera_id}-{kind}-{stamp}-f{index}.mp4"
        self._clip = open_mp4(path, self.fps, width, height)
        for jpeg in self._before:
            image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if image is not None and image.shape[:2] == (height, width):
                self._clip.write(image)
        self._before.clear()
        self._clip_frames_left = after
        self.clips.append(path)
        logger.info("camera %s: %s alarm at frame %d, clip %s", self.camera_id, kind, index, path)

    def close(self) -> None:
        for writer in (self._video, self._clip):
            if writer is not None:
                writer.release()
        self._video = self._clip = None

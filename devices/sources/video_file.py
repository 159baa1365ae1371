"""Video file source (OpenCV/FFmpeg): frames in order, media time as the analytics clock.

Files are processed as fast as possible by default (no frame is dropped); ``realtime: true`` paces
reading to the file's frame rate, as a live camera would deliver it. ``Frame.t_mono_s`` is the media
time (index / fps) and ``Frame.t_wall_s`` is ``start_wall`` + media time, so summaries of a file are
deterministic and reprocessing it yields the same summary ids.

``start_wall`` defaults to the file's own time, never to "now": a run restarted after a crash
(``Restart=always``) reads the file again from the start, and must produce the same interval ids
so that the store and the platform's de-duplication drop what was already counted. The file's
time is the recording's start written in the container (the ``creation_time`` of an MP4/MOV
``mvhd`` box, when set), else its modification time minus its duration (a recorder's last write
ends the recording). Both stay the same while the file is not rewritten.
"""

from __future__ import annotations

import logging
import math
import struct
import threading
import time
import weakref
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from carbonedge.devices.sources.base import FrameSource, SourceConfig, register_source
from carbonedge.runtime.base.errors import SourceOpenError
from carbonedge.runtime.base.types import Frame

logger = logging.getLogger(__name__)

_FALLBACK_FPS = 25.0
_MAX_DURATION_S = 366 * 86400.0
_MP4_EPOCH_S = -2_082_844_800  # 1904-01-01T00:00:00Z, the epoch of MP4/QuickTime times
_LATEST_S = 7_258_118_400  # 2200-01-01: a container time past this is garbage
# Leading bytes of still-image formats OpenCV would otherwise "play" as a one-frame video (an
# animated GIF is a video and stays allowed).
_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"BM", "BMP"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)  # fmt: skip


_MJPEG_SUFFIXES = (".mjpeg", ".mjpg", ".mjp")


def image_format(path: Path) -> str | None:
    """ "PNG", "JPEG", "BMP" or "TIFF" when ``path`` starts like that still image, else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    found = next((name for magic, name in _IMAGE_MAGIC if head.startswith(magic)), None)
    if found == "JPEG" and path.suffix.lower() in _MJPEG_SUFFIXES:
        return None  # Motion JPEG: JPEG frames one after another, a video
    return found


# Video files open in this process, for progress displays (``open_files``); weak: a source that
# is dropped without close() does not linger here.
_OPEN: weakref.WeakSet[VideoFileSource] = weakref.WeakSet()
_OPEN_LOCK = threading.Lock()


def open_files() -> list[VideoFileSource]:
    """The video file sources open right now, in no particular order (progress displays)."""
    with _OPEN_LOCK:
        return list(_OPEN)


def ended_early_frames(read: int, announced: int) -> bool:
    """Whether ``read`` frames fall short of the ``announced`` count by more than a container's
    estimate can be off (an AVI's count comes from its duration: one frame over is common)."""
    return announced > 0 and announced - read > max(1, round(0.005 * announced))


def _is_bgr(image: object) -> bool:
    return isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3


class VideoFileConfig(SourceConfig):
    type: Literal["video_file"] = "video_file"
    path: Path = Field(description="the video file (relative paths from the working folder)")
    fps: float | None = Field(
        None, gt=0, le=1000, description="override the container's frame rate"
    )
    realtime: bool = Field(
        False,
        description="pace frames at the file's frame rate instead of as fast as possible",
    )
    start_wall: datetime | None = Field(
        None,
        description="UTC wall time of the first frame; default: the file's own time (its "
        "container's creation time, else its modification time minus its duration), so a rerun "
        "of the same file makes the same interval ids",
    )
    max_frames: int | None = Field(
        None,
        ge=1,
        description="stop after this many frames (default: the whole file)",
    )
    max_consecutive_errors: int = Field(
        30, ge=1, description="frames tried past a failed read before it is taken as the end"
    )


@register_source("video_file", VideoFileConfig)
class VideoFileSource(FrameSource):
    def __init__(self, config: VideoFileConfig) -> None:
        self.config = config
        self.source_id = config.id
        self.fps = config.fps or _FALLBACK_FPS
        self._cap: cv2.VideoCapture | None = None
        self._index = 0
        self._frame_count = 0
        self._start_wall_s = 0.0
        self._start_mono_s = 0.0
        self.decode_errors = 0
        self._ended = False
        self._first: NDArray[np.uint8] | None = None
        self.ended_early = None
        self.opened_s: float | None = None  # time.monotonic() at open()

    def open(self) -> None:
        path = self.config.path
        if not path.is_file():
            problem = "is a folder, not a video file" if path.is_dir() else "does not exist"
            raise SourceOpenError(f"source {self.source_id!r}: video file {path} {problem}")
        still = image_format(path)
        if still is not None:
            raise SourceOpenError(
                f"source {self.source_id!r}: {path} is an image ({still}), not a video; for "
                "stills use an image_folder source"
            )
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceOpenError(
                f"source {self.source_id!r}: {path} is not a readable video (OpenCV/FFmpeg "
                "cannot open it: not a video, or damaged/truncated before its index)"
            )
        ok, first = cap.read()
        if not ok or first is None or first.size == 0:
            cap.release()
            raise SourceOpenError(f"source {self.source_id!r}: {path} contains no decodable frames")
        self._first = first  # returned by the first read(): no seek back (not every file can)
        self.fps = self.config.fps or self._container_fps(cap)
        self._frame_count = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))  # raw MJPEG: < 0
        self._start_wall_s = self._start_wall_of_file()
        self._start_mono_s = time.monotonic()
        self._cap, self._index, self._ended, self.ended_early = cap, 0, False, None
        self.opened_s = time.monotonic()
        with _OPEN_LOCK:
            _OPEN.add(self)
        logger.info("opened %s: %d frames at %.2f fps", path, self._frame_count, self.fps)

    def read(self) -> Frame | None:
        if self._cap is None:
            raise SourceOpenError(f"source {self.source_id!r}: read() before open()")
        if self._ended:
            return None
        if self.config.max_frames is not None and self._index >= self.config.max_frames:
            return None
        image, self._first = (self._first, None) if self._first is not None else (None, None)
        if image is None:
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

    def _start_wall_of_file(self) -> float:
        """``start_wall`` as seconds since the epoch; by default the file's own time (module
        docstring), in whole milliseconds so that every run computes the same value."""
        start = self.config.start_wall
        if start is not None:
            if start.tzinfo is None:
                start = start.replace(tzinfo=timezone.utc)
            return start.timestamp()
        path = self.config.path
        created_s = container_creation_s(path)
        if created_s is not None:
            how, start_s = "its container's creation time", created_s
        else:
            duration_s = self._frame_count / self.fps
            if duration_s > _MAX_DURATION_S:  # a container's count that cannot be right
                duration_s = 0.0
            how = f"its modification time minus its duration, {duration_s:.1f} s"
            start_s = path.stat().st_mtime_ns // 1_000_000 / 1000 - duration_s
        start_s = round(start_s, 3)
        first = datetime.fromtimestamp(start_s, timezone.utc).isoformat(timespec="milliseconds")
        logger.info("source %s: first frame at %s (%s; set start_wall: to override)",
                    self.source_id, first, how)  # fmt: skip
        return start_s

    def _container_fps(self, cap: cv2.VideoCapture) -> float:
        """The container's frame rate, or ``_FALLBACK_FPS`` (with a warning) when it is invalid."""
        container_fps = cap.get(cv2.CAP_PROP_FPS)
        if math.isfinite(container_fps) and 0 < container_fps <= 1000:
            return float(container_fps)
        logger.warning(
            "source %s: %s reports no valid frame rate (%r); assuming %.1f fps "
            "(set fps: in the config to override)",
            self.source_id,
            self.config.path,
            container_fps,
            _FALLBACK_FPS,
        )
        return _FALLBACK_FPS

    def _read_image(self) -> NDArray[np.uint8] | None:
        """Next decodable (H, W, 3) uint8 image, or None at the end of the stream.

        A failed read is the end of the stream unless a later frame can still be grabbed (up to
        ``max_consecutive_errors`` tries ahead): only then are the skipped frames counted as decode
        errors (their indices are kept, so media time stays right). A truncated file, or one whose
        container overstates the frame count, thus ends there; the end is final. When the file
        ends well before the frame count its container announces, ``ended_early`` is set and one
        warning names the file and the frame (``ended_early_frames``).
        """
        ok, image = self._cap.read()  # type: ignore[union-attr]
        if ok and _is_bgr(image):
            return image
        limit = self.config.max_consecutive_errors
        for skipped in range(1, limit + 1):
            if not self._cap.grab():  # type: ignore[union-attr]
                continue
            ok, image = self._cap.retrieve()  # type: ignore[union-attr]
            if ok and _is_bgr(image):
                first, last = self._index, self._index + skipped - 1
                self._index += skipped
                self.decode_errors += skipped
                frames = f"frame {first}" if skipped == 1 else f"frames {first}-{last}"
                logger.warning(
                    "source %s: %s could not be decoded; skipped", self.source_id, frames
                )
                return image
        self._ended = True
        logger.debug(
            "source %s: end of stream after frame %d (%d frames announced)",
            self.source_id,
            self._index - 1,
            self._frame_count,
        )
        if ended_early_frames(self._index, self._frame_count):
            self.ended_early = (self._index, self._frame_count)
            logger.warning(
                "source %s: %s ended early at frame %d of %d expected (%.1f of %.1f s; the "
                "file is truncated or damaged); counted up to there",
                self.source_id, self.config.path, self._index, self._frame_count,
                self._index / self.fps, self._frame_count / self.fps,
            )  # fmt: skip
        return None

    @property
    def frame_count(self) -> int:
        """Frames the container announces (0 when unknown); for progress display only."""
        return self._frame_count

    def progress(self) -> tuple[int, int]:
        """(frames read so far, frames announced or 0); for progress displays."""
        total = self._frame_count
        if self.config.max_frames is not None:
            total = min(total, self.config.max_frames) if total else self.config.max_frames
        return self._index, total

    def close(self) -> None:
        with _OPEN_LOCK:
            _OPEN.discard(self)
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._first = None


def container_creation_s(path: Path, max_boxes: int = 256) -> float | None:
    """The ``creation_time`` of an MP4/MOV file's movie header (``moov/mvhd``) as seconds since
    the epoch; None when the file is no MP4/MOV, has no movie header, leaves the time unset (0,
    as ffmpeg does unless told) or sets it past 2200. Reads box headers only (the ``moov`` box
    may come after the media data), at most ``max_boxes`` of them."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            moov = _find_box(f, 0, size, b"moov", max_boxes)
            mvhd = _find_box(f, moov[0], moov[1], b"mvhd", max_boxes) if moov else None
            if mvhd is None or mvhd[1] - mvhd[0] < 12:
                return None
            f.seek(mvhd[0])
            version = f.read(4)[0]
            raw = f.read(8 if version == 1 else 4)
            value = int.from_bytes(raw, "big") if len(raw) in (4, 8) else 0
    except OSError:
        return None
    created_s = _MP4_EPOCH_S + value
    return float(created_s) if value and 0 < created_s < _LATEST_S else None


def _find_box(f, start: int, end: int, kind: bytes, max_boxes: int) -> tuple[int, int] | None:
    """(payload start, payload end) of the first box of type ``kind`` in [start, end)."""
    at = start
    for _ in range(max_boxes):
        if at + 8 > end:
            return None
        f.seek(at)
        header = f.read(8)
        if len(header) < 8:
            return None
        size, box = struct.unpack(">I4s", header)
        head = 8
        if size == 1:  # a 64-bit size follows the type
            large = f.read(8)
            if len(large) < 8:
                return None
            size, head = struct.unpack(">Q", large)[0], 16
        elif size == 0:  # the box runs to the end
            size = end - at
        if size < head or at + size > end or not box.isascii():
            return None
        if box == kind:
            return at + head, at + size
        at += size
    return None

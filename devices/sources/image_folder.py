"""Image folder source: the images of a folder in name order, once or watched for new ones.

For cameras that upload snapshots (FTP/SMB drop folders) and for replaying stills. Files are read
in name order (cameras name snapshots by time); with ``watch: true`` the folder is polled every
``poll_interval_s`` for names after the last one read, so the memory of what was read is one name
however long the box runs. A file younger than ``settle_s`` may still be being written and waits
for the next poll. An unreadable image is logged, counted in ``decode_errors`` and skipped.
Nothing is dropped: the decode thread waits for the consumer.

Times: ``t_wall_s`` is the file's modification time (when the camera wrote it), or with
``time_from: name`` the date and time in the file name (``2020_06_11T19_56_01``,
``20200611-195601``, ...; UTC plus ``name_utc_offset_h``), which survives copying the files;
``t_mono_s`` follows the same spacing on the monotonic clock, starting when the first image is
read, and never goes backwards.
"""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import cv2
from pydantic import Field

from carbonedge.devices.sources.base import register_source
from carbonedge.devices.sources.live import EndOfStream, Grabbed, LiveSource, LiveSourceConfig
from carbonedge.runtime.base.errors import DeviceError

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageFolderConfig(LiveSourceConfig):
    type: Literal["image_folder"] = "image_folder"
    path: Path = Field(description="folder of still images, read in name order")
    watch: bool = Field(False, description="keep polling for new images (else end at the last)")
    poll_interval_s: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="how often the folder is checked for new images",
    )
    settle_s: float = Field(0.5, ge=0, le=60, description="skip files younger than this")
    stall_after_s: float = Field(
        120.0,
        gt=0,
        le=86400,
        description="no new image this long marks the source stalled (health, watchdog)",
    )
    time_from: Literal["mtime", "name"] = Field(
        "mtime", description="capture time from the file's mtime or from a stamp in its name"
    )
    name_utc_offset_h: float = Field(
        0.0, ge=-14, le=14, description="the name's stamp is UTC plus this many hours"
    )


_NAME_STAMP = re.compile(r"(\d{4})[-_]?(\d{2})[-_]?(\d{2})[T_ -]?(\d{2})[-_:]?(\d{2})[-_:]?(\d{2})")


def name_time_s(name: str, utc_offset_h: float = 0.0) -> float | None:
    """Seconds since the epoch of the last date-time stamp in a file name (None if none)."""
    found = _NAME_STAMP.findall(name)
    if not found:
        return None
    try:
        stamp = datetime(*map(int, found[-1]), tzinfo=timezone.utc)
    except ValueError:
        return None
    return stamp.timestamp() - utc_offset_h * 3600.0


@register_source("image_folder", ImageFolderConfig)
class ImageFolderSource(LiveSource):
    """Frames from image files (see the module docstring)."""

    config: ImageFolderConfig
    drop_oldest = False

    def __init__(self, config: ImageFolderConfig) -> None:
        super().__init__(config)
        self._last_name = ""
        self._clock: tuple[float, float] | None = None  # (first mtime, monotonic at first read)
        self._last_mono_s = -float("inf")

    def describe(self) -> str:
        return f"image folder {self.config.path}"

    def _connect(self) -> Any:
        if not self.config.path.is_dir():
            raise DeviceError(f"{self.describe()}: not a folder (or not mounted)")
        return self.config.path

    def _grab(self, handle: Any) -> Grabbed | None:
        while not self._stop.is_set():
            entry = self._next_entry(handle)
            if entry is None:
                if not self.config.watch:
                    raise EndOfStream
                self._stop.wait(self.config.poll_interval_s)
                continue
            self._last_name = entry.name
            image = cv2.imread(entry.path, cv2.IMREAD_COLOR)
            if image is None:
                self.decode_errors += 1
                self.health.count("decode_errors")
                logger.warning("source %s: %s is not a readable image; skipped", self.source_id,
                               entry.path)  # fmt: skip
                continue
            when_s = entry.stat().st_mtime
            if self.config.time_from == "name":
                named_s = name_time_s(entry.name, self.config.name_utc_offset_h)
                if named_s is None:
                    logger.warning("%s: no date-time in the name %r; using its mtime",
                                   self.describe(), entry.name)  # fmt: skip
                else:
                    when_s = named_s
            return self._stamp(image, when_s)
        return None

    def _next_entry(self, folder: Path) -> os.DirEntry | None:
        """The first image after the last name read that is old enough to be complete."""
        now = time.time()
        best: os.DirEntry | None = None
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if name <= self._last_name or not name.lower().endswith(IMAGE_SUFFIXES):
                        continue
                    if best is not None and name >= best.name:
                        continue
                    if entry.is_file() and now - entry.stat().st_mtime >= self.config.settle_s:
                        best = entry
        except OSError as exc:
            raise DeviceError(f"{self.describe()}: cannot list ({exc.strerror})") from None
        return best

    def _stamp(self, image: Any, mtime_s: float) -> Grabbed:
        if self._clock is None:
            self._clock = (mtime_s, time.monotonic())
        first_mtime_s, first_mono_s = self._clock
        t_mono_s = max(self._last_mono_s, first_mono_s + mtime_s - first_mtime_s)
        self._last_mono_s = t_mono_s
        return Grabbed(image, t_mono_s, mtime_s)

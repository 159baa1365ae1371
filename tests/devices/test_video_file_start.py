"""A video file's first frame is stamped with the file's own time, not with "now": a rerun of the
same file (a restart after a crash) gives the same wall times, hence the same interval ids."""

from __future__ import annotations

import os
import struct
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.devices.sources.video_file import (
    VideoFileConfig,
    VideoFileSource,
    container_creation_s,
)

MTIME_S = 1_767_254_400.25  # 2026-01-01T08:00:00.250Z


def write_clip(path: Path, frames: int = 20, fps: float = 10.0, fourcc: str = "MJPG") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (64, 48))
    for i in range(frames):
        writer.write(np.full((48, 64, 3), i * 10 % 255, np.uint8))
    writer.release()
    return path


def first_wall_s(path: Path, **config) -> float:
    with VideoFileSource(VideoFileConfig(id="c", path=path, **config)) as src:
        return next(iter(src)).t_wall_s


def test_two_runs_of_a_file_stamp_the_same_wall_times(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi")
    first = first_wall_s(clip)
    time.sleep(0.05)  # "now" moved on; the file did not
    assert first_wall_s(clip) == first


def test_without_a_container_time_the_file_ends_at_its_modification_time(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi", frames=20, fps=10.0)  # AVI: no creation time
    os.utime(clip, (MTIME_S, MTIME_S))
    assert container_creation_s(clip) is None
    assert first_wall_s(clip) == pytest.approx(MTIME_S - 2.0, abs=1e-3)  # 20 frames at 10 fps


def test_an_explicit_start_wall_wins(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi")
    start = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    assert first_wall_s(clip, start_wall=start) == start.timestamp()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(created_1904_s: int, version: int = 0) -> bytes:
    if version == 1:
        return box(
            b"mvhd", bytes([1, 0, 0, 0]) + struct.pack(">QQ", created_1904_s, 0) + b"\0" * 88
        )
    return box(b"mvhd", bytes(4) + struct.pack(">II", created_1904_s, 0) + b"\0" * 88)


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        # moov after the media data, as a camera writes it; 2018-04-19T22:46:00Z
        (lambda: box(b"ftyp", b"isom") + box(b"mdat", b"\0" * 100)
         + box(b"moov", mvhd(3607022760)), 1524177960.0),
        (lambda: box(b"ftyp", b"isom") + box(b"moov", mvhd(3607022760, version=1)), 1524177960.0),
        (lambda: struct.pack(">I4sQ", 1, b"ftyp", 20) + b"isom" + box(b"moov", mvhd(3607022760)),
         1524177960.0),  # a 64-bit box size
        (lambda: box(b"ftyp", b"isom") + box(b"moov", mvhd(0)), None),  # unset (ffmpeg's default)
        (lambda: box(b"moov", mvhd(2**64 - 1, version=1)), None),  # garbage: year 10^11
        (lambda: box(b"ftyp", b"isom") + box(b"moov", box(b"trak", b"")), None),  # no mvhd
        (lambda: box(b"ftyp", b"isom") + struct.pack(">I4s", 4000, b"moov"), None),  # truncated
        (lambda: b"RIFF\x00\x00\x00\x00AVI LIST" + b"\0" * 64, None),  # not MP4 at all
        (lambda: b"", None),
    ],
)  # fmt: skip
def test_container_creation_time(tmp_path: Path, layout, expected) -> None:
    path = tmp_path / "c.mp4"
    path.write_bytes(layout())
    assert container_creation_s(path) == expected


def test_a_real_clip_with_a_creation_time_starts_there(shared_dir: Path) -> None:
    clip = shared_dir / "media" / "traffic" / "intel_car-detection.mp4"
    expected = datetime(2018, 4, 19, 22, 46, tzinfo=timezone.utc).timestamp()
    assert container_creation_s(clip) == expected
    assert first_wall_s(clip) == expected

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
from carbonedge.runtime.errors import SourceOpenError


def write_clip(path: Path, frames: int = 12, fps: float = 10.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    for i in range(frames):
        image = np.full((48, 64, 3), i * 20 % 255, np.uint8)
        writer.write(image)
    writer.release()
    return path


def test_reads_all_frames_with_media_time(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi")
    start = datetime(2026, 1, 1, 8, tzinfo=timezone.utc)
    with VideoFileSource(VideoFileConfig(id="c", path=clip, start_wall=start)) as src:
        frames = list(src)
    assert len(frames) == 12
    assert src.fps == pytest.approx(10.0)
    assert [f.index for f in frames] == list(range(12))
    assert frames[3].t_mono_s == pytest.approx(0.3)
    assert frames[3].t_wall_s == pytest.approx(start.timestamp() + 0.3)
    assert frames[0].image.shape == (48, 64, 3) and frames[0].image.dtype == np.uint8


def test_max_frames(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi")
    with VideoFileSource(VideoFileConfig(id="c", path=clip, max_frames=5)) as src:
        assert len(list(src)) == 5


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "does not exist"),
        (b"", "not a readable video|no decodable frames"),
        (b"RIFF\x00\x00\x00\x00AVI garbage" * 100, "not a readable video|no decodable frames"),
    ],
)
def test_bad_files_raise_one_clear_error(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    path = tmp_path / "bad.avi"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceOpenError, match=expected) as info:
        VideoFileSource(VideoFileConfig(id="bad", path=path)).open()
    assert str(path) in str(info.value)


def test_truncated_file_yields_the_frames_before_the_cut(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "c.avi", frames=30)
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with VideoFileSource(VideoFileConfig(id="cut", path=cut)) as src:
        frames = list(src)
    assert 0 < len(frames) < 30

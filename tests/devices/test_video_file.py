from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.devices.sources import video_file
from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource
from carbonedge.runtime.base.errors import SourceOpenError


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


def plain_opencv_frames(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def test_truncated_file_ends_after_the_frames_before_the_cut_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clip = write_clip(tmp_path / "c.avi", frames=30)
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    expected = plain_opencv_frames(cut)
    assert 0 < len(expected) < 30
    with (
        caplog.at_level(logging.WARNING),
        VideoFileSource(VideoFileConfig(id="cut", path=cut)) as src,
    ):
        frames = list(src)
    assert src.decode_errors == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and f"ended early at frame {len(expected)} of 30" in warnings[0]
    assert [f.index for f in frames] == list(range(len(expected)))
    for frame, image in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(frame.image, image)


class FakeCapture:
    """cv2.VideoCapture stand-in over a list of images; None is a frame that fails to decode."""

    def __init__(self, images: list[np.ndarray | None], fps: float = 10.0) -> None:
        self.images, self.fps, self.pos = images, fps, 0

    def isOpened(self) -> bool:  # noqa: N802 (OpenCV's name)
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: len(self.images)}[prop]

    def set(self, prop: int, value: float) -> bool:
        assert prop == cv2.CAP_PROP_POS_FRAMES
        self.pos = int(value)
        return True

    def grab(self) -> bool:
        self.pos += 1
        return self.pos <= len(self.images) and self.images[self.pos - 1] is not None

    def retrieve(self) -> tuple[bool, np.ndarray | None]:
        image = self.images[self.pos - 1]
        return image is not None, image

    def read(self) -> tuple[bool, np.ndarray | None]:
        return self.retrieve() if self.grab() else (False, None)

    def release(self) -> None:
        pass


def image(level: int) -> np.ndarray:
    return np.full((4, 6, 3), level, np.uint8)


def fake_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cap: FakeCapture, **config: object
) -> VideoFileSource:
    path = tmp_path / "fake.avi"
    path.write_bytes(b"x")
    monkeypatch.setattr(video_file.cv2, "VideoCapture", lambda _: cap)
    return VideoFileSource(VideoFileConfig(id="fake", path=path, **config))


@pytest.mark.parametrize(
    ("pattern", "indices", "errors", "warned"),
    [
        ("OOOO", [0, 1, 2, 3], 0, None),
        ("OOX", [0, 1], 0, None),  # container overstates the frame count: end, no error
        ("OOXXXX", [0, 1], 0, "ended early at frame 2 of 6"),  # said once: a truncated file
        ("OXOO", [0, 2, 3], 1, "frame 1 could"),
        ("OOXXXO", [0, 1, 5], 3, "frames 2-4 could"),
        # more than max_consecutive_errors=3 in a row: the end, said as a file that ended early
        ("OXXXXO", [0], 0, "ended early at frame 1 of 6"),
    ],
)
def test_failed_reads_are_errors_only_when_a_frame_follows(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    pattern: str,
    indices: list[int],
    errors: int,
    warned: str | None,
) -> None:
    images = [image(10 * i) if c == "O" else None for i, c in enumerate(pattern)]
    src = fake_source(monkeypatch, tmp_path, FakeCapture(images), max_consecutive_errors=3)
    with caplog.at_level(logging.WARNING), src:
        frames = list(src)
        assert src.read() is None
    assert [f.index for f in frames] == indices
    for f in frames:
        np.testing.assert_array_equal(f.image, image(10 * f.index))
        assert f.t_mono_s == pytest.approx(f.index / 10.0)
    assert src.decode_errors == errors
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(messages) == (0 if warned is None else 1)
    assert warned is None or warned in messages[0]


@pytest.mark.parametrize(
    ("container_fps", "config_fps", "expected", "warns"),
    [
        (30.0, None, 30.0, False),
        (0.0, None, 25.0, True),
        (float("nan"), None, 25.0, True),
        (90000.0, None, 25.0, True),
        (0.0, 12.5, 12.5, False),  # the config's fps overrides: the container is not asked
    ],
)
def test_container_fps_fallback_warns_once(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    container_fps: float,
    config_fps: float | None,
    expected: float,
    warns: bool,
) -> None:
    cap = FakeCapture([image(i) for i in range(3)], fps=container_fps)
    src = fake_source(monkeypatch, tmp_path, cap, fps=config_fps)
    with caplog.at_level(logging.WARNING), src:
        frames = list(src)
    assert src.fps == expected and frames[2].t_mono_s == pytest.approx(2 / expected)
    fallback = [r for r in caplog.records if "no valid frame rate" in r.getMessage()]
    assert len(fallback) == (1 if warns else 0)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SourceOpenError, match="is a folder, not a video file"):
        VideoFileSource(VideoFileConfig(id="d", path=tmp_path)).open()


@pytest.mark.parametrize("suffix", [".avi", ".mjpeg"])  # a raw .mjpeg stream cannot seek
def test_first_frame_is_not_lost_on_unseekable_files(tmp_path: Path, suffix: str) -> None:
    clip = write_clip(tmp_path / f"c{suffix}", frames=30)
    expected = plain_opencv_frames(clip)
    assert len(expected) == 30
    with VideoFileSource(VideoFileConfig(id="c", path=clip, fps=10.0)) as src:
        frames = list(src)
    assert len(frames) == 30
    for got, want in zip(frames, expected, strict=True):
        np.testing.assert_array_equal(got.image, want)

"""``carbonedge run SITE.yaml --annotate out.mp4`` and a camera's ``annotate:`` (issue 29, item 1).

Real runs of the CLI on the built-in synthetic scene (weight-free motion detector); the written
MP4 is decoded and checked: frame count, size, the counting line and the boxes drawn.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.annotate_config import AnnotateConfig, per_camera_path
from carbonedge.vision.annotate import CLASS_PALETTE_BGR

FRAMES = 200  # vehicles enter the scene (seed 7) after ~100 frames
LINE_Y = 216
SITE = """\
device_id: annotate-test
detector: {{type: motion}}
cameras:
{cameras}
output:
  sqlite_path: {out}/store.sqlite
  jsonl_path: null
health: {{enabled: false}}
"""
CAMERA = """\
  {id}:
    source: {{type: synthetic, duration_s: 30, seed: {seed}}}
    lines:
      - {{id: main, start_px: [0, {y}], end_px: [640, {y}]}}
{extra}"""


def _site(tmp_path: Path, cameras: list[tuple[str, int, str]]) -> Path:
    body = "".join(CAMERA.format(id=c, seed=s, y=LINE_Y, extra=e) for c, s, e in cameras)
    path = tmp_path / "site.yaml"
    path.write_text(SITE.format(cameras=body, out=tmp_path))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "run", *args],
        capture_output=True, text=True, timeout=600, env={**os.environ},
    )  # fmt: skip


def _decode(path: Path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def _frames_and_dropped(stdout: str, camera_id: str) -> tuple[int, int]:
    line = next(s for s in stdout.splitlines() if s.startswith(f"{camera_id}:"))
    frames = int(re.search(r"(\d+) frames \(", line).group(1))
    dropped = re.search(r"(\d+) frames left out of the annotated video", line)
    return frames, int(dropped.group(1)) if dropped else 0


def _near(image: np.ndarray, bgr: tuple[int, int, int], tol: int = 45) -> np.ndarray:
    return np.abs(image.astype(int) - np.array(bgr)).max(axis=-1) <= tol


def _check_drawn(frames: list[np.ndarray], seed: int) -> None:
    """The line on every frame; box outlines (class colours not in the raw scene) on some."""
    scene = SyntheticScene(SyntheticSceneConfig(id="x", duration_s=30, seed=seed))
    boxed = 0
    for index, image in enumerate(frames):
        assert image.shape == (360, 640, 3)
        band = image[LINE_Y - 3 : LINE_Y + 4]
        magenta = (band[..., 0] > 180) & (band[..., 2] > 180) & (band[..., 1] < 90)
        assert magenta.any(axis=0).mean() > 0.6, f"frame {index}: no counting line at y={LINE_Y}"
        if index % 10 or index < 100:
            continue
        raw = scene.render(index).image
        changed = np.abs(image.astype(int) - raw.astype(int)).max(axis=-1) > 60
        changed[:30] = False  # the header band
        changed[LINE_Y - 12 : LINE_Y + 6] = False  # the line and its label
        palette = np.zeros(changed.shape, bool)
        for bgr in CLASS_PALETTE_BGR:
            palette |= _near(image, bgr)
        boxed += int((changed & palette).sum() > 40)
    assert boxed >= 2, "box outlines drawn in class colours on the frames with vehicles"


def test_run_annotate_writes_the_decodable_video_of_one_camera(tmp_path: Path) -> None:
    site = _site(tmp_path, [("road", 7, "")])
    out = tmp_path / "videos" / "out.mp4"
    proc = _run(str(site), "--annotate", str(out), "--max-frames", str(FRAMES))
    assert proc.returncode == 0, proc.stderr
    frames_run, dropped = _frames_and_dropped(proc.stdout, "road")
    assert frames_run == FRAMES
    frames = _decode(out)
    assert len(frames) + dropped == FRAMES and len(frames) > FRAMES // 2
    _check_drawn(frames, seed=7)


def test_several_cameras_get_one_file_each_named_by_camera_id(tmp_path: Path) -> None:
    site = _site(tmp_path, [("north", 7, ""), ("south", 11, "")])
    out = tmp_path / "out.mp4"
    proc = _run(str(site), "--annotate", str(out), "--max-frames", "40")
    assert proc.returncode == 0, proc.stderr
    assert not out.exists()
    for camera_id in ("north", "south"):
        path = tmp_path / f"out.{camera_id}.mp4"
        frames_run, dropped = _frames_and_dropped(proc.stdout, camera_id)
        assert len(_decode(path)) + dropped == frames_run == 40


def test_a_cameras_annotate_option_writes_its_video_without_the_flag(tmp_path: Path) -> None:
    video = tmp_path / "cam" / "road.mp4"
    site = _site(tmp_path, [("road", 7, f"    annotate: {{path: {video}, queue_frames: 1024}}\n")])
    proc = _run(str(site), "--max-frames", "150")
    assert proc.returncode == 0, proc.stderr
    frames = _decode(video)
    assert len(frames) == 150  # a queue as long as the run: nothing dropped
    _check_drawn(frames, seed=7)


def test_bad_annotate_values_are_one_clear_line(tmp_path: Path) -> None:
    site = _site(tmp_path, [("road", 7, "    annotate: {path: out.avi}\n")])
    proc = _run(str(site), "--max-frames", "5")
    assert proc.returncode == 2
    assert "annotate" in proc.stderr and "expected a .mp4 file name" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = _run(str(_site(tmp_path, [("road", 7, "")])), "--annotate", str(tmp_path / "x.avi"))
    assert proc.returncode == 2 and "--annotate" in proc.stderr and "expected a .mp4" in proc.stderr


@pytest.mark.parametrize(
    ("given", "cameras", "expected"),
    [("out.mp4", 1, "out.mp4"), ("v/out.mp4", 2, "v/out.cam-1.mp4")],
)
def test_per_camera_path(given: str, cameras: int, expected: str) -> None:
    assert per_camera_path(Path(given), "cam-1", cameras) == Path(expected)


def test_annotate_config_needs_a_path_or_a_clip_folder() -> None:
    assert AnnotateConfig.model_validate("a.mp4").path == Path("a.mp4")
    with pytest.raises(ValueError, match="give path .* or clips_dir"):
        AnnotateConfig.model_validate({"clip_after_s": 3})

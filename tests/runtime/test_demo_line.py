"""``demo --video`` says where its counting line is and refuses a line outside the frame."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HIGHWAY = "media/traffic/highway_cdnet_320x240.avi"
SHORT = "media/traffic/highway_lowres_160x120_kaybr.mp4"  # 160x120, 120 frames


def _demo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", "demo", *args],
                          cwd=cwd, capture_output=True, text=True, env=dict(os.environ),
                          timeout=300)  # fmt: skip


@pytest.mark.parametrize("row", ["999", "240", "-1"])
def test_line_outside_the_frame_is_one_clear_error(shared_dir: Path, tmp_path: Path, row) -> None:
    proc = _demo("--video", str(shared_dir / HIGHWAY), "--line-y", row, cwd=tmp_path)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert f"--line-y {row}" in lines[0] and "320x240" in lines[0] and "0 to 239" in lines[0]
    assert not (tmp_path / "carbonedge-out").exists()  # refused before counting anything


def _first_frames(clip: Path, out: Path, frames: int) -> Path:
    """The first ``frames`` frames of ``clip`` as an MJPG AVI (the line text needs no more)."""
    import cv2

    cap = cv2.VideoCapture(str(clip))
    writer = None
    for _ in range(frames):
        ok, image = cap.read()
        assert ok, f"{clip}: fewer than {frames} frames"
        if writer is None:
            h, w = image.shape[:2]
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
        writer.write(image)
    cap.release()
    writer.release()
    return out


def test_the_line_used_is_said(shared_dir: Path, with_model_dir: Path, tmp_path: Path) -> None:
    # the demo runs the model on a video: its folder is handed on (the README's test command
    # sets no CARBONEDGE_MODEL_DIR; only .ci/run does)
    clip = _first_frames(shared_dir / SHORT, tmp_path / "short.avi", 15)  # a whole run, quickly
    proc = _demo("--video", str(clip), "--line-y", "60", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "counting line: row y = 60 px across the whole 160x120 frame" in proc.stdout
    assert "short: 15 frames in" in proc.stdout  # the run went through the clip to its end

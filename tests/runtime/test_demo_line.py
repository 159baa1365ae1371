"""``demo --video`` says where its counting line is and refuses a line outside the frame."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HIGHWAY = "media/traffic/highway_cdnet_320x240.avi"
SHORT = "media/traffic/highway_lowres_160x120_kaybr.mp4"  # 120 frames: a quick whole run


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


def test_the_line_used_is_said(shared_dir: Path, tmp_path: Path) -> None:
    proc = _demo("--video", str(shared_dir / SHORT), "--line-y", "60", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "counting line: row y = 60 px across the whole 160x120 frame" in proc.stdout

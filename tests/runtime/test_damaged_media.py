"""Damaged input in ``run``, ``demo --video`` and ``count``: a real MP4 cut short with ``head -c``
is counted up to where it ends, with one line saying so and none of FFmpeg's own messages; a PNG
given as a video is refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

CLIP = "media/traffic/freeway_distant_wet_caltrans_sanbruno_jblitzar.mp4"  # 150 frames, 50 KB
ENDED = re.compile(r"ended early at frame (\d+) of (\d+) expected")


def carbonedge(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=300)  # fmt: skip


@pytest.fixture()
def truncated(tmp_path: Path, shared_dir: Path) -> Path:
    """``head -c 25000`` of the clip: its index (at the front) still announces 150 frames."""
    out = tmp_path / "cut.mp4"
    with out.open("wb") as fh:
        subprocess.run(["head", "-c", "25000", str(shared_dir / CLIP)], stdout=fh, check=True)
    return out


def decodable_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def assert_ended_early_once(stderr: str) -> int:
    assert "[h264 @" not in stderr and "partial file" not in stderr, stderr  # FFmpeg kept quiet
    found = [ENDED.search(line) for line in stderr.splitlines()]
    found = [m for m in found if m]
    assert len(found) == 1, stderr
    frame, expected = int(found[0][1]), int(found[0][2])
    assert expected == 150 and 0 < frame < expected
    return frame


def test_run_counts_a_truncated_file_up_to_its_end(truncated: Path, tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ndetector: {type: motion}\n"
        f"cameras: {{cut: {{source: {{type: video_file, path: {truncated}}}}}}}\n"
        "output: {sqlite_path: out/s.sqlite, jsonl_path: out/s.jsonl}\n"
    )
    proc = carbonedge("run", "site.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = assert_ended_early_once(proc.stderr)
    assert frame >= decodable_frames(truncated)  # the frames it had were all read
    assert f"FILE ENDED EARLY at frame {frame} of 150 expected" in proc.stdout


def test_demo_and_count_say_the_file_ended_early(truncated: Path, tmp_path: Path,
                                                 model_dir: Path) -> None:  # fmt: skip
    env = {"CARBONEDGE_MODEL_DIR": str(model_dir)}
    demo = carbonedge("demo", "--video", str(truncated), "--out", "demo", cwd=tmp_path, env=env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    frame = assert_ended_early_once(demo.stderr)
    assert f"the file ENDED EARLY at frame {frame} of 150 expected" in demo.stdout
    count = carbonedge("count", str(truncated), "--out", "count", cwd=tmp_path, env=env)
    assert count.returncode == 0, count.stdout + count.stderr
    assert assert_ended_early_once(count.stderr) == frame


def test_the_whole_clip_does_not_end_early(tmp_path: Path, shared_dir: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ndetector: {type: motion}\n"
        f"cameras: {{whole: {{source: {{type: video_file, path: {shared_dir / CLIP}}}}}}}\n"
        "output: {sqlite_path: out/s.sqlite, jsonl_path: out/s.jsonl}\n"
    )
    proc = carbonedge("run", "site.yaml", cwd=tmp_path)
    assert proc.returncode == 0 and "150 frames" in proc.stdout, proc.stdout + proc.stderr
    assert "ended early" not in proc.stderr.lower() + proc.stdout.lower()


def test_a_png_is_refused_as_a_video(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "still.png"), np.zeros((120, 160, 3), np.uint8))
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ndetector: {type: motion}\n"
        "cameras: {c: {source: {type: video_file, path: still.png}}}\n"
        "output: {sqlite_path: out/s.sqlite, jsonl_path: out/s.jsonl}\n"
    )
    for args in (("run", "site.yaml"), ("demo", "--video", "still.png"),
                 ("count", "still.png", "--detector", "motion")):  # fmt: skip
        proc = carbonedge(*args, cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "still.png is an image (PNG), not a video" in lines[0], lines


def test_health_reports_the_file_that_ended_early(truncated: Path, tmp_path: Path) -> None:
    from carbonedge.runtime.config import parse_site_config
    from carbonedge.runtime.site import Site

    config = parse_site_config({
        "device_id": "a", "detector": {"type": "motion"},
        "cameras": {"cut": {"source": {"type": "video_file", "path": str(truncated)}}},
        "health": {"enabled": False},
        "output": {"sqlite_path": str(tmp_path / "s.sqlite"), "jsonl_path": None},
    }, origin="test")  # fmt: skip
    site = Site(config)
    (result,) = site.run()
    assert result.ended_early is not None and result.ended_early[1] == 150
    entry = site.health()["sources"]["cut"]
    assert entry["ended_early"] == {"frame": result.ended_early[0], "expected": 150}

"""Progress on long jobs: frames done / total, FPS and ETA on stderr.

No timing is asserted: the lines are read from a job's real state (an open video file, a site
that stopped part way) or from real commands run with a tiny progress interval
(``CARBONEDGE_PROGRESS_EVERY_S``), and only their presence and content are checked.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from carbonedge.devices.sources.video_file import VideoFileConfig, VideoFileSource, open_files
from carbonedge.runtime.progress import JobProgress, Progress, format_task

FRAMES = 30


def write_video(path: Path, frames: int = FRAMES) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (160, 120))
    for i in range(frames):
        image = np.full((120, 160, 3), 30, np.uint8)
        cv2.rectangle(image, (5 * i, 40), (5 * i + 30, 70), (220, 220, 220), -1)
        writer.write(image)
    writer.release()
    return path


def carbonedge(*args: str, cwd: Path, every_s: float = 0.05, env: dict | None = None):
    full = {**os.environ, "CARBONEDGE_PROGRESS_EVERY_S": str(every_s), **(env or {})}
    return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env=full, timeout=600)  # fmt: skip


def test_format_task_has_frames_fps_and_eta() -> None:
    assert format_task("a.mp4", 50, 200, 5.0, bar=False) == "a.mp4 50/200  25% 10 FPS ETA 0:15"
    assert format_task("cam", 200, 200, 5.0, bar=False) == "cam 200/200 100% 40 FPS"  # done
    assert format_task("live", 75, 0, 5.0) == "live 75 frames 15 FPS"  # no total known
    assert "ETA 1:15:00" in format_task("long", 1, 4501, 1.0)


def test_job_progress_shows_the_open_file(tmp_path: Path) -> None:
    clip = write_video(tmp_path / "clip.mp4")
    job = JobProgress("demo", stream=io.StringIO())
    job.phase("counting clip.mp4")
    with VideoFileSource(VideoFileConfig(id="c", path=clip)) as source:
        for _ in range(12):
            source.read()
        assert source in open_files()
        line = job.line()
    assert source not in open_files()  # closed: no longer shown
    assert line.startswith("demo: counting clip.mp4 (0:00) clip.mp4 12/30  40% ")
    assert re.search(r" \d+ FPS ETA \d+:\d\d \[0:00 elapsed\]$", line), line


def test_job_progress_writes_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    stream = io.StringIO()
    with JobProgress("audit", stream=stream, every_s=0.01) as job:
        job.phase("truth file 1 of 1: x.yaml")
        with VideoFileSource(VideoFileConfig(id="c", path=write_video(tmp_path / "c.mp4"))) as s:
            while s.read() is not None and "c.mp4" not in stream.getvalue():
                pass
            while "c.mp4" not in stream.getvalue():  # the clip ended first: wait for a line
                job._done.wait(0.01)
    lines = stream.getvalue().splitlines()
    assert lines and all(ln.startswith("audit: ") for ln in lines)
    assert "\r" not in stream.getvalue()  # no terminal: no redrawn line
    assert any("truth file 1 of 1: x.yaml" in ln and "c.mp4 " in ln for ln in lines), lines


def test_run_progress_has_an_eta_for_a_file(tmp_path: Path) -> None:
    """A site stopped after 10 of 30 frames: its progress line says how long the rest takes."""
    from carbonedge.runtime.config import load_site_config
    from carbonedge.runtime.site import Site

    clip = write_video(tmp_path / "clip.mp4")
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ndetector: {type: motion}\n"
        f"cameras: {{cam: {{source: {{type: video_file, path: {clip}}}}}}}\n"
        f"health: {{enabled: false}}\noutput: {{sqlite_path: {tmp_path}/s.sqlite, "
        f"jsonl_path: {tmp_path}/s.jsonl}}\n"
    )
    site = Site(load_site_config(tmp_path / "site.yaml"), max_frames=10)
    site.run()
    line = Progress(site, stream=io.StringIO()).line()
    assert re.fullmatch(r"cam \[#{6} {14}\] 10/30  33% \d+ FPS ETA \d+:\d\d", line), line


def test_run_progress_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    import pty

    leader, follower = pty.openpty()
    with os.fdopen(follower, "w") as tty:
        drawn = Progress(site=None, stream=tty)  # type: ignore[arg-type]
        assert drawn.tty and drawn.tty_only
    os.close(leader)
    assert not Progress(site=None, stream=io.StringIO()).start()._thread  # type: ignore[arg-type]


def test_audit_prints_progress_lines(tmp_path: Path) -> None:
    proc = carbonedge("audit", "--synthetic", "--duration-s", "6", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("audit: ")]
    assert any("synthetic scene, 6 s" in ln for ln in lines), proc.stderr


def test_count_and_demo_print_frames_fps_and_eta(tmp_path: Path, model_dir: Path) -> None:
    clip = write_video(tmp_path / "clip.mp4", frames=60)
    env = {"CARBONEDGE_MODEL_DIR": str(model_dir)}
    count = carbonedge("count", str(clip), "--out", "c", cwd=tmp_path, env=env)
    assert count.returncode == 0, count.stderr
    assert re.search(r"^count: \d+/60 frames \(\d+ %\), \d+ FPS", count.stderr, re.M), count.stderr
    demo = carbonedge("demo", "--video", str(clip), "--out", "d", cwd=tmp_path, env=env)
    assert demo.returncode == 0, demo.stderr
    lines = [ln for ln in demo.stderr.splitlines() if ln.startswith("demo: counting clip.mp4")]
    assert lines, demo.stderr
    assert any(re.search(r"clip\.mp4 \d+/60 +\d+% \d+ FPS", ln) for ln in lines), lines


def test_a_fire_camera_ends_with_its_alarms(tmp_path: Path, shared_dir: Path) -> None:
    from conftest import REPO_ROOT

    example = REPO_ROOT / "runtime/examples/forest-tower.yaml"
    proc = carbonedge("run", str(example), cwd=tmp_path,
                      env={"CARBONEDGE_SHARED_DIR": str(shared_dir)})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("lookout: "))
    assert re.search(r"81 frames \([\d.]+ FPS\), [1-9]\d* fire alarms? started", line), line
    assert "crossings" not in line  # a tower has no counting line


def test_job_progress_redraws_one_line_on_a_terminal(tmp_path: Path) -> None:
    import pty
    import select

    leader, follower = pty.openpty()
    seen = b""
    with os.fdopen(follower, "w") as tty:
        with JobProgress("quantize", stream=tty, every_s=0.01) as job:
            job.phase("quantizing")
            while (seen.count(b"\r\x1b[K") < 2 and len(seen) < 20_000
                   and select.select([leader], [], [], 30)[0]):  # fmt: skip
                seen += os.read(leader, 4096)
    os.close(leader)
    assert seen.count(b"\r\x1b[Kquantize: quantizing (0:00)") >= 2, seen
    assert b"\n" not in seen.split(b"\r\x1b[K", 1)[1]  # redrawn in place, no new lines

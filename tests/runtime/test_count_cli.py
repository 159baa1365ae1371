"""``carbonedge count VIDEO`` (issue 29): one command, from any folder, annotated video + CSV."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

from carbonedge.runtime import cli
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.count_cli import CSV_COLUMNS, build_lines, format_counts

CLIP = "highway_cdnet_320x240.avi"  # 320x240, 60 fps
FRAMES = 150


def _count(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "count", *args],
        cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def counted(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The first 150 frames of the highway clip counted from an unrelated folder, no --out."""
    cwd = tmp_path_factory.mktemp("anywhere")
    proc = _count(str(shared_dir / "media" / "traffic" / CLIP), "--line", "0,150,320,150",
                  "--max-frames", str(FRAMES), cwd=cwd,
                  env={"CARBONEDGE_MODEL_DIR": str(shared_dir / "models")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc, cwd / "highway_cdnet_320x240-count"


def test_count_writes_the_crossings_csv(counted) -> None:
    proc, out = counted
    with (out / "crossings.csv").open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = rows[1:]
    assert f"{len(body)} crossings" in proc.stdout
    assert body, "the van crossing y=150 around frame 137 is counted"
    for frame, time_s, line, direction, cls, track in body:
        assert 0 <= int(frame) < FRAMES
        assert float(time_s) == pytest.approx(int(frame) / 60.0, abs=0.02)
        assert line == "line1" and direction in ("in", "out")
        assert cls and int(track) >= 0
    frames = [int(r[0]) for r in body]
    assert frames == sorted(frames)
    # the summary printed at the end agrees with the CSV
    n_in = sum(1 for r in body if r[3] == "in")
    assert "line1 (0,150)-(320,150)" in proc.stdout
    assert any(s.split()[:2] == ["in", str(n_in)] for s in proc.stdout.splitlines())


def test_count_writes_the_annotated_video(counted) -> None:
    proc, out = counted
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert cap.isOpened()
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(60.0, abs=0.01)
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    assert len(frames) == FRAMES and frames[0].shape == (240, 320, 3)
    b, g, r = (frames[-1][145:156, 160:320, i].astype(int) for i in range(3))
    assert ((b > 180) & (r > 180) & (g < 90)).any(axis=0).mean() > 0.9  # the line at y=150
    assert str(out / "annotated.mp4") in proc.stdout


def test_count_reports_progress_on_stderr(counted) -> None:
    proc, _ = counted
    assert "Traceback" not in proc.stderr
    assert f"count: {FRAMES}/{FRAMES} frames (100 %)" in proc.stderr.splitlines()  # the last


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["0,300,320,300"], "--line 1 (0,300,320,300) is outside the 320x240 frame"),
        (["0,100,320,100", "-5,10,20,10"], "--line 2 (-5,10,20,10) is outside the 320x240 frame"),
        (["0,100,320"], "--line 1 ('0,100,320'): expected four numbers x1,y1,x2,y2"),
        (["a,b,c,d"], "--line 1 ('a,b,c,d'): expected four numbers"),
        (["10,10,10,10"], "--line 1 (10,10,10,10): its two points must be at least 1 px apart"),
    ],
)  # fmt: skip
def test_a_bad_line_is_one_clear_error(lines: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_lines(lines, 320, 240)
    assert message in str(err.value)


def test_without_a_line_a_middle_line_is_used_and_said() -> None:
    lines, note = build_lines([], 320, 240)
    assert [(ln.start_px, ln.end_px) for ln in lines] == [((0.0, 120.0), (320.0, 120.0))]
    assert "no --line given" in note and "y=120" in note


def test_a_line_outside_the_frame_exits_2_with_one_line(
    shared_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = shared_dir / "media" / "traffic" / CLIP
    rc = cli.main(["count", str(video), "--line", "0,300,320,300", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err == ["carbonedge: error: --line 1 (0,300,320,300) is outside the 320x240 frame: "
                   "x must be within 0..320 and y within 0..240"]  # fmt: skip
    assert not (tmp_path / "o").exists()  # nothing written


def test_a_missing_model_is_the_model_search_line(
    shared_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("CARBONEDGE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    video = shared_dir / "media" / "traffic" / CLIP
    rc = cli.main(["count", str(video), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert "model 'picodet_s_416_coco.onnx' not found" in err[0]
    assert "CARBONEDGE_MODEL_DIR" in err[0]


def test_a_missing_video_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = cli.main(["count", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "nope.mp4" in err[0]


def test_the_counts_table_lists_each_direction_by_class() -> None:
    lines, _ = build_lines(["0,150,320,150"], 320, 240)
    text = format_counts(lines, {"line1": {"in": {"car": 3, "truck": 1}, "out": {}}})
    assert text.splitlines() == [
        "line1 (0,150)-(320,150)", "  in      4  (car 3, truck 1)", "  out     0  (-)",
    ]  # fmt: skip

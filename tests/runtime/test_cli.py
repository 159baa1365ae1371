"""The CLI as a user runs it: real processes, one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import REPO_ROOT


def carbonedge(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("carbonedge: error: ")
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_version(tmp_path: Path) -> None:
    proc = carbonedge("--version", cwd=tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("carbonedge ")


def test_doctor_shows_every_kernel_compiled(tmp_path: Path) -> None:
    proc = carbonedge("doctor", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all kernels compiled" in proc.stdout
    for kernel in (
        "letterbox_chw",
        "nms",
        "box_iou",
        "decode_yolox",
        "decode_yolo_v8",
        "motion_update",
        "connected_components",
        "kalman_predict",
        "kalman_update",
    ):
        assert f"ok   {kernel}" in proc.stdout, kernel
    assert "FAIL" not in proc.stdout


@pytest.mark.parametrize(
    ("yaml_text", "fragments"),
    [
        (
            "device_id: [unclosed\n",
            ("site.yaml: malformed YAML at line 2", "flow sequence at line 1"),
        ),
        (
            "device_id: a\ncameras: {}\ndetector: {type: motion}\n",
            ("cameras: Dictionary should have at least 1 item",),
        ),
        (
            "device_id: a\ncameras: {c: {source: {type: synthetic}}}\n"
            "detector: {type: motion, speed: 3}\n",
            ("detector.motion.speed: unknown key",),
        ),
    ],
)
def test_bad_config_exits_with_one_line(
    tmp_path: Path, yaml_text: str, fragments: tuple[str, ...]
) -> None:
    (tmp_path / "site.yaml").write_text(yaml_text)
    for command in ("check", "run"):
        assert_one_line_error(carbonedge(command, "site.yaml", cwd=tmp_path), *fragments)


def test_missing_model_exits_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ncameras: {c: {source: {type: synthetic, duration_s: 1}}}\n"
        "detector: {type: yolox, model: nowhere.onnx}\n"
    )
    env = {"CARBONEDGE_MODEL_DIR": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path)}
    assert_one_line_error(
        carbonedge("run", "site.yaml", cwd=tmp_path, env=env), "nowhere.onnx", "not found"
    )


def test_corrupt_model_exits_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.onnx").write_bytes(b"garbage" * 100)
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ncameras: {c: {source: {type: synthetic, duration_s: 1}}}\n"
        f"detector: {{type: yolox, model: {tmp_path / 'bad.onnx'}}}\n"
    )
    assert_one_line_error(
        carbonedge("run", "site.yaml", cwd=tmp_path), "bad.onnx: not a loadable ONNX model"
    )


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 1000])
def test_empty_or_corrupt_video_exits_with_one_line(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "clip.avi").write_bytes(content)
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ncameras: {c: {source: {type: video_file, path: clip.avi}}}\n"
        "detector: {type: motion}\n"
    )
    assert_one_line_error(carbonedge("run", "site.yaml", cwd=tmp_path), "clip.avi")
    assert_one_line_error(carbonedge("demo", "--video", "clip.avi", cwd=tmp_path), "clip.avi")


def test_run_synthetic_site_writes_summaries(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "device_id: box-7\n"
        "detector: {type: motion}\n"
        "cameras:\n"
        "  road:\n"
        "    source: {type: synthetic, duration_s: 20}\n"
        "    lines: [{id: l1, start_px: [0, 216], end_px: [640, 216]}]\n"
        "summary: {interval_s: 10}\n"
        "output: {sqlite_path: out/s.sqlite, jsonl_path: out/s.jsonl}\n"
    )
    proc = carbonedge("run", "site.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = (tmp_path / "out/s.jsonl").read_text().splitlines()
    assert len(lines) == 2  # two 10 s intervals of a 20 s scene
    assert '"device_id":"box-7"' in lines[0] and '"seq":1' in lines[0] and '"seq":2' in lines[1]


@pytest.mark.parametrize(
    "example",
    [p for p in sorted((REPO_ROOT / "runtime/examples").glob("*.yaml"))
     if not p.name.endswith("-truth.yaml")],  # ground-truth files: tests/runtime/test_audit_traffic
)  # fmt: skip
def test_example_configs_are_valid(example: Path) -> None:
    env = {"CARBONEDGE_SHARED_DIR": str(REPO_ROOT.parent / "shared")}
    proc = carbonedge("check", "--config-only", str(example), cwd=REPO_ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert ": ok (device " in proc.stdout
    assert proc.stderr == ""  # the new form: no deprecation notice


@pytest.mark.serial  # a fixed 6 s start-up wait: no other xdist worker beside it
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_flushes_the_open_interval(tmp_path: Path, sig: int) -> None:
    (tmp_path / "site.yaml").write_text(
        "device_id: box-8\n"
        "cameras: {road: {source: {type: synthetic, duration_s: 3600}}}\n"
        "detector: {type: motion}\n"
        "summary: {interval_s: 3600}\n"
        "output: {sqlite_path: s.sqlite, jsonl_path: s.jsonl}\n"
    )
    cmd = [sys.executable, "-m", "carbonedge.runtime.cli", "run", "site.yaml"]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(6.0)  # start-up and some frames; the hour-long interval is still open
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert len(lines) == 1, lines
    summary = json.loads(lines[0])
    assert summary["frames"] > 0 and summary["interval_start"] == "2026-01-01T08:00:00.000Z"
    assert f"road: {summary['frames']} frames" in out


def test_unexpected_exception_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from carbonedge.runtime import cli, doctor

    def broken() -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(doctor, "main", broken)
    assert cli.main(["doctor"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "carbonedge: internal error: RuntimeError: boom (rerun with --debug for the traceback, "
        "and please report it)"
    ]
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["--debug", "doctor"])

"""``carbonedge run`` with its health port already taken (a real bound socket) stops at once with
one line naming the port and a non-zero exit, instead of running unwatched."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path


def test_run_exits_2_naming_the_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "site.yaml").write_text(
            "device_id: a\ndetector: {type: motion}\n"
            "cameras: {c: {source: {type: synthetic, duration_s: 1}}}\n"
            f"health: {{port: {port}}}\n"
            "output: {sqlite_path: out/s.sqlite, jsonl_path: out/s.jsonl}\n"
        )
        proc = subprocess.run(
            [sys.executable, "-m", "carbonedge.runtime.cli", "run", "site.yaml"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("carbonedge: error: health.port: cannot listen on 127.0.0.1:")
    assert f":{port} " in lines[0] and "health.port to a free port" in lines[0]
    assert proc.stdout == ""  # nothing ran: no source line


def test_run_with_a_free_port_runs(tmp_path: Path) -> None:
    (tmp_path / "site.yaml").write_text(
        "device_id: a\ndetector: {type: motion}\n"
        "cameras: {c: {source: {type: synthetic, duration_s: 1}}}\n"
        "health: {port: 0}\noutput: {sqlite_path: out/s.sqlite, jsonl_path: out/s.jsonl}\n"
    )
    proc = subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", "run", "site.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0 and proc.stdout.startswith("c: "), proc.stdout + proc.stderr

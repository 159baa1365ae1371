"""SIGTERM during a store outage loses nothing: a real ``carbonedge run`` on a full filesystem
retries for ``output.shutdown_flush_s``, spills the rest (fsynced, another filesystem), exits
non-zero with one line of counts; the next start, with space again, replays the spill file."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from disk_rigs import fill, small_fs

WAIT_S = 120  # a bound for a condition to come true, not a timing


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _summaries_so_far(db: Path) -> int:
    """Summaries the running box has stored; 0 while the file or its schema is not there yet
    (the store creates the file, then its tables: a poll can land in between)."""
    if not db.exists():
        return 0
    try:
        return len(_rows(db, "SELECT id FROM summaries"))
    except sqlite3.OperationalError:
        return 0


def _rows(db: Path, sql: str) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _write_failures(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    found = re.findall(r'^carbonedge_store_write_failures_total\{kind="\w+"\} (\S+)$', text, re.M)
    return sum(float(x) for x in found)


def _run(cwd: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "carbonedge.runtime.cli", "-v", "run", "site.yaml", *extra],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_sigterm_on_a_full_disk_spills_and_the_next_start_replays(tmp_path: Path) -> None:
    port = _free_port()
    with small_fs(tmp_path / "mnt", "32m") as mnt:
        db = mnt / "s.sqlite"
        (tmp_path / "site.yaml").write_text(
            "device_id: box-7\n"
            "cameras: {road: {source: {type: synthetic, duration_s: 3600}}}\n"
            "detector: {type: motion}\n"
            "summary: {interval_s: 5}\n"
            f"health: {{port: {port}}}\n"
            f"output: {{sqlite_path: {db}, jsonl_path: null, shutdown_flush_s: 1,\n"
            f"         spill_dir: {tmp_path / 'spill'}}}\n"
        )
        first = _run(tmp_path)
        deadline = time.monotonic() + WAIT_S
        while _summaries_so_far(db) < 2:
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        filler = fill(mnt)
        while _write_failures(port) < 3:  # several retries: more summaries queued meanwhile
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=WAIT_S)
        assert first.returncode == 3, err  # data had to be spilled: not a clean exit
        counts = re.findall(r"of (\d+) queued items (\d+) written, (\d+) spilled to \S+ "
                            r"\(replayed at the next start\), (\d+) LOST", err)  # fmt: skip
        assert len(counts) == 1, err
        queued, _, spilled, lost = map(int, counts[0])
        assert spilled >= 2 and lost == 0 and queued >= spilled
        logged = set(re.findall(r"^carbonedge: info: summary road .*\(id ([0-9a-f-]+)\)$", err,
                                re.M))  # fmt: skip
        spill_file = tmp_path / "spill" / "s.spill.jsonl"
        lines = [json.loads(x) for x in spill_file.read_text().splitlines()]
        assert len(lines) == spilled
        spilled_ids = {x["fields"]["id"] for x in lines if x["item"] == "interval_summary"}
        assert spilled_ids and not spilled_ids & logged
        before = {r[0] for r in _rows(db, "SELECT id FROM summaries")}
        assert logged <= before and not spilled_ids & before

        filler.unlink(missing_ok=True)
        second = _run(tmp_path, "--max-frames", "1")
        _, err = second.communicate(timeout=WAIT_S)
        assert second.returncode == 0, err
        assert "replayed" in err and not spill_file.exists()
        ids = [r[0] for r in _rows(db, "SELECT id FROM summaries")]
        assert len(ids) == len(set(ids))
        assert (logged | spilled_ids) <= set(ids)
        queued_ids = [r[0] for r in _rows(db, "SELECT msg_id FROM outbox "
                                          "WHERE kind = 'interval_summary'")]  # fmt: skip
        for summary_id in logged | spilled_ids:  # never queued upstream twice
            assert queued_ids.count(summary_id) <= 1

"""Item 6 of issue 28: the JSON-lines copy holds every summary committed to SQLite, after a crash
too. Lines are fsynced after each commit; what a crash cut off (the tail written after the last
commit, a torn line) is put back from SQLite at the next open."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uplink"))

from uplink_rigs import summary  # noqa: E402

from carbonedge.runtime.store import Store  # noqa: E402

UPLINK_DIR = Path(__file__).resolve().parents[1] / "uplink"


def lines_by_id(jsonl: Path) -> list[str]:
    return [json.loads(x)["id"] for x in jsonl.read_text().splitlines()]


def stored_ids(db: Path) -> set[str]:
    con = sqlite3.connect(db)
    try:
        return {r[0] for r in con.execute("SELECT id FROM summaries")}
    finally:
        con.close()


def test_a_lost_tail_and_a_torn_line_are_put_back_at_open(tmp_path: Path) -> None:
    db, jsonl = tmp_path / "box.sqlite", tmp_path / "summaries.jsonl"
    with Store(db, jsonl) as store:
        for i in range(10):
            store.write_summary(summary(i))
    assert stat.S_IMODE(jsonl.stat().st_mode) == 0o600
    text = jsonl.read_bytes()
    cut = text.split(b"\n")
    jsonl.write_bytes(b"\n".join(cut[:6]) + b"\n" + cut[6][:40])  # as a power cut leaves it
    with Store(db, jsonl) as store:
        store.write_summary(summary(10))
    ids = lines_by_id(jsonl)  # every line parses: the torn one is gone
    with Store(db) as store:
        assert ids == [s["id"] for s in store.summaries()]  # all 11, in order, once each


CHILD = textwrap.dedent("""
    import sys
    sys.path[:0] = [{uplink!r}, {tests!r}]
    from uplink_rigs import summary
    from carbonedge.runtime.store import Store
    store = Store({db!r}, {jsonl!r})
    for i in range(100000):
        store.write_summary(summary(i))
        print(i, flush=True)
""")


@pytest.mark.parametrize("kill_after", [5, 17, 40])
def test_kill_9_while_writing_leaves_every_committed_summary_in_the_copy(
    tmp_path: Path, kill_after: int
) -> None:
    db, jsonl = tmp_path / "box.sqlite", tmp_path / "summaries.jsonl"
    code = CHILD.format(uplink=str(UPLINK_DIR), tests=str(UPLINK_DIR.parent), db=str(db),
                        jsonl=str(jsonl))  # fmt: skip
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    for _ in range(kill_after):
        assert child.stdout.readline()
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    with Store(db, jsonl):  # the next start makes the copy whole
        pass
    ids = lines_by_id(jsonl)
    assert len(ids) == len(set(ids))
    assert set(ids) == stored_ids(db) and len(ids) >= kill_after

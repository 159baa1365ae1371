"""Item 1 of issue 28: ``carbonedge outbox recover`` never sends the sequence backwards, counts
what it lost honestly and queues again the summaries whose outbox rows were lost.

Real store files, written by the real ``Store``/``Outbox``, with pages overwritten on purpose."""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path

import pytest
from uplink_rigs import summary

from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.outbox import Outbox


def fill(db: Path, n: int, acked: int) -> set[str]:
    """n summaries stored, the first ``acked`` outbox rows acknowledged; the pending msg ids."""
    with Store(db) as store:
        for i in range(n):
            store.write_summary(summary(i))
    outbox = Outbox(db)
    rows = outbox.pending(limit=10_000)
    outbox.ack([r.id for r in rows[:acked]])
    outbox.close()
    return {r.msg_id for r in rows[acked:]}


def smash(db: Path, table: str, which: slice, *, keep_header: bool = False) -> None:
    """Overwrite the ``which`` leaf pages of ``table`` with garbage (after a checkpoint);
    ``keep_header``: only the cell bytes, so the page still parses and yields garbage rows."""
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = con.execute("PRAGMA page_size").fetchone()[0]
    pages = [
        n
        for (n,) in con.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno",
            (table,),
        )
    ]
    con.close()
    data = bytearray(db.read_bytes())
    for page in pages[which]:
        start = (page - 1) * size
        skip = size // 2 if keep_header else 0
        data[start + skip : start + size] = bytes((7 * i + 0xA5) % 256 for i in range(size - skip))
    db.write_bytes(bytes(data))


def recover_cli(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``carbonedge outbox recover DB`` (its handler, in this process); what it printed."""
    from carbonedge.runtime.uplink.cli import _cmd_recover

    capsys.readouterr()
    assert _cmd_recover(argparse.Namespace(sqlite=db)) == 0
    out = capsys.readouterr().out
    with capsys.disabled():
        print("\n" + out)
    return out


def table_line(report: str, table: str) -> tuple[int, str]:
    line = next(x for x in report.splitlines() if x.strip().startswith(f"{table}:"))
    salvaged = int(line.split(":")[1].split()[0])
    return salvaged, line.split(",")[1].split()[0]


def test_counter_page_lost_with_an_empty_outbox_never_restarts_at_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "box.sqlite"
    fill(db, 12, acked=12)  # everything sent and acknowledged: the outbox is empty
    smash(db, "sequences", slice(None))
    report = recover_cli(db, capsys)
    assert table_line(report, "sequences")[0] == 0  # nothing of the garbage page "salvaged"
    with Store(db) as store:
        written = store.write_summary(summary(50))
    outbox = Outbox(db)
    assert [r.seq for r in outbox.pending()] == [13]  # the uplink seq continues, not 1 again
    outbox.close()
    assert written.seq == 13  # no jump either: the sidecar knows the mark


def test_garbage_counter_rows_are_unreadable_not_salvaged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "box.sqlite"
    fill(db, 5, acked=5)
    smash(db, "sequences", slice(None), keep_header=True)  # the rows parse, their bytes are junk
    report = recover_cli(db, capsys)
    salvaged, unreadable = table_line(report, "sequences")
    assert salvaged == 0 and unreadable != "0", report
    with Store(db) as store:
        assert store.write_summary(summary(50)).seq == 6


def test_lost_outbox_and_summary_pages_are_counted_and_summaries_requeued(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "box.sqlite"
    pending = fill(db, 80, acked=20)
    before = sqlite3.connect(db)
    stored = {r[0] for r in before.execute("SELECT id FROM summaries")}
    before.close()
    smash(db, "outbox", slice(1, 3))  # two leaf pages of pending rows
    smash(db, "summaries", slice(-1, None))  # the newest summaries' page
    report = recover_cli(db, capsys)
    after = sqlite3.connect(db)
    queued = {r[0] for r in after.execute("SELECT msg_id FROM outbox")}
    kept = {r[0] for r in after.execute("SELECT id FROM summaries")}
    after.close()
    outbox_salvaged, outbox_unreadable = table_line(report, "outbox")
    summaries_salvaged, summaries_unreadable = table_line(report, "summaries")
    assert int(summaries_unreadable) == len(stored - kept) > 0  # not "0 unreadable"
    assert summaries_salvaged == len(kept)
    assert outbox_salvaged + int(outbox_unreadable) == len(pending)
    assert int(outbox_unreadable) > 0
    # every pending summary still stored is queued again (same msg_id: upstream de-duplicates)
    assert (pending & kept) <= queued
    assert "queued again" in report
    with Store(db) as store:
        assert store.write_summary(summary(200)).seq == 81
    outbox = Outbox(db)
    rows = outbox.pending(limit=10_000)
    outbox.close()
    seqs = [r.seq for r in rows]
    assert len(seqs) == len(set(seqs)) and max(seqs) == max(seqs[:-1]) + 1
    assert rows[-1].seq > 80  # above every number handed out before
    assert json.loads(rows[-1].body)["seq"] == 81

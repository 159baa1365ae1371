"""The outbox in the store's SQLite file: sequencing, compaction bound, corruption and recovery."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from uplink_rigs import DEVICE, KEY, summary

from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.compact import enforce_bound
from carbonedge.runtime.uplink.errors import OutboxCorruptError
from carbonedge.runtime.uplink.outbox import Outbox
from carbonedge.runtime.uplink.verify import SeenLedger


def fill(db: Path, n: int, **kw) -> list:
    with Store(db) as store:
        return [store.write_summary(summary(i, **kw)) for i in range(n)]


def alarm(i: int) -> dict:
    from carbonedge.vision.fire.events import FireAlarm

    body = FireAlarm(
        device_id=DEVICE, source_id="cam", status="start", update_seq=0,
        started_t_wall_s=1_767_254_401.0 + i, t_wall_s=1_767_254_401.0 + i, frame_index=i,
        classes=("fire",), confidence=0.9, boxes=(), image_hw=(480, 640), bearing_deg=None,
        detector="pixels",
    ).to_dict()  # fmt: skip
    return body | {"id": f"alarm-{i}"}


def test_every_stored_summary_is_queued_once_with_a_gap_free_uplink_seq(tmp_path: Path) -> None:
    db = tmp_path / "box.sqlite"
    fill(db, 3)
    fill(db, 5)  # a restart that reprocesses the same intervals: store and outbox stay idempotent
    outbox = Outbox(db)
    outbox.enqueue("fire_alarm", DEVICE, alarm(0), "alarm-0")
    outbox.enqueue("fire_alarm", DEVICE, alarm(0), "alarm-0")  # same id: queued once
    rows = outbox.pending(limit=100)
    assert [(r.kind, r.seq) for r in rows] == [("interval_summary", s) for s in range(1, 6)] + [
        ("fire_alarm", 6)
    ]
    stored = {s["id"] for s in Store(db).summaries()}
    assert {r.msg_id for r in rows if r.kind == "interval_summary"} == stored
    outbox.ack([rows[0].id])
    assert outbox.stats()["pending"] == 5 and outbox.stats()["acked"] == 1


def test_summary_and_outbox_row_commit_together(tmp_path: Path) -> None:
    db = tmp_path / "box.sqlite"
    fill(db, 1)
    store = Store(db)
    store.db.execute("DROP TABLE outbox")  # the outbox insert will fail inside the transaction
    with pytest.raises(Exception, match="cannot write summary"):
        store.write_summary(summary(1))
    assert len(store.summaries()) == 1  # rolled back: no summary without its outbox row
    store.close()


def test_compaction_merges_oldest_summaries_keeps_totals_and_never_touches_alarms(
    tmp_path: Path,
) -> None:
    db = tmp_path / "box.sqlite"
    written = fill(db, 64)
    outbox = Outbox(db)
    for i in range(3):
        outbox.enqueue("fire_alarm", DEVICE, alarm(i), f"alarm-{i}")
    outbox.mark_sent([outbox.pending(limit=1)[0].id])  # row 1 may be upstream: never merged
    before = outbox.stats()["pending_bytes"]
    merged = enforce_bound(outbox.db, max_bytes=before // 3, max_interval_s=3600)
    stats = outbox.stats()
    print(f"\ncompaction: 64 summaries + 3 alarms, {before} B -> {stats['pending_bytes']} B, "
          f"{merged} merged away")  # fmt: skip
    assert stats["pending_bytes"] <= before // 3 and stats["compacted"] == merged > 0
    rows = outbox.pending(limit=1000)
    assert sum(r.kind == "fire_alarm" for r in rows) == 3
    assert rows[0].seq == 1 and rows[0].merged_seqs is None
    bodies = [json.loads(r.body) for r in rows if r.kind == "interval_summary"]
    total = sum(s.total() for s in written)
    assert sum(sum(n for d in b["counts"].values() for c in d.values() for n in c.values())
               for b in bodies) == total  # fmt: skip
    assert sum(b["frames"] for b in bodies) == 64 * 1500
    # every original seq is either a row's seq or listed in its merged_seqs, exactly once
    covered = sorted(s for r in rows for s in [r.seq, *(r.merged_seqs or [])])
    assert covered == list(range(1, 68))
    coarse = [b for b in bodies if "compacted" in b]
    assert all(b["compacted"]["intervals"] >= 2 for b in coarse)
    # time coverage unchanged and contiguous per source
    spans = sorted((b["interval_start"], b["interval_end"]) for b in bodies)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))


def test_compacted_messages_verify_and_mark_all_merged_seqs(tmp_path: Path) -> None:
    from uplink_rigs import uplink_config

    from carbonedge.runtime.uplink.forwarder import Forwarder
    from carbonedge.runtime.uplink.sink import Sink
    from carbonedge.runtime.uplink.verify import verify_message

    class Capture(Sink):
        def __init__(self):
            self.sent, self.pending = [], []

        def start(self):
            pass

        def free_slots(self):
            return 100

        def submit(self, message):
            self.sent.append(message.payload)
            self.pending.append(message.row_id)

        def outcomes(self, timeout_s):
            from carbonedge.runtime.uplink.sink import Outcome

            done, self.pending = [Outcome(r, "acked") for r in self.pending], []
            return done

        def in_flight(self):
            return 0

        def stop(self):
            pass

    db = tmp_path / "box.sqlite"
    fill(db, 16)
    cfg = uplink_config({"type": "http", "url": "http://127.0.0.1:9/"}, outbox_max_mb=0.004)
    sink = Capture()
    fwd = Forwarder(cfg, device_id=DEVICE, sqlite_path=db, sink=sink)
    for _ in range(5):
        fwd.step()
    ledger = SeenLedger()
    envs = [verify_message(p, {DEVICE: KEY}) for p in sink.sent]
    assert all(ledger.check(e) == "new" for e in envs)
    seqs = sorted(s for e in envs for s in [e["seq"], *e.get("merged_seqs", [])])
    assert seqs == list(range(1, 17)) and len(envs) < 16
    assert fwd.outbox.stats()["pending"] == 0


def test_corrupt_outbox_is_named_with_its_recovery_command_and_never_wiped(tmp_path: Path) -> None:
    db = tmp_path / "box.sqlite"
    fill(db, 40)
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    leaves = [
        n
        for (n,) in con.execute(
            "SELECT pageno FROM dbstat WHERE name = 'outbox' AND pagetype = 'leaf' ORDER BY pageno"
        )
    ]
    con.close()
    assert len(leaves) >= 3
    data = bytearray(db.read_bytes())
    start = (leaves[1] - 1) * page  # smash the header of one leaf page of the outbox
    data[start : start + 12] = b"\xa5" * 12
    db.write_bytes(bytes(data))
    with pytest.raises(OutboxCorruptError) as err:
        Outbox(db)
    message = str(err.value)
    assert str(db) in message and f"carbonedge outbox recover {db}" in message
    assert "nothing was deleted" in message and db.read_bytes() == bytes(data)

    run = subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", "outbox", "recover",
                          str(db)], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    print("\n" + run.stdout)
    quarantined = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name and p.suffix != ""]
    assert any(p.read_bytes() == bytes(data) for p in quarantined)  # kept byte for byte
    outbox = Outbox(db)  # the fresh file passes the check
    salvaged = outbox.pending(limit=1000)
    assert 0 < len(salvaged) <= 40
    next_seq = outbox.enqueue("fire_alarm", DEVICE, alarm(0), "alarm-0")
    assert next_seq > max(r.seq for r in salvaged)  # never reuses a sequence number


def test_not_a_database_at_all(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "box.sqlite"
    db.write_bytes(b"this is not sqlite" * 300)
    with pytest.raises(OutboxCorruptError, match="carbonedge outbox recover"):
        Outbox(db)
    assert db.read_bytes() == b"this is not sqlite" * 300
    with caplog.at_level(logging.WARNING):
        from carbonedge.runtime.uplink.recover import recover

        report = recover(db)
    assert "nothing readable" in report["notes"][0]
    assert Path(report["quarantined"]).read_bytes() == b"this is not sqlite" * 300
    assert Outbox(db).stats()["pending"] == 0

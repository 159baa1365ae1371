"""``carbonedge platform status`` (issue 31, item 5) on a real PostgreSQL store and on an ingest
SQLite file: boxes seen, last message per box, gaps, late boxes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pg_rig import import_psycopg, pg_dsn_fixture, postgres_fixture, signed_summary  # noqa: F401

from carbonedge.runtime.uplink.ingest import Ingestor
from carbonedge.runtime.uplink.pg_store import PostgresStore

psycopg = import_psycopg()

KEYS = {"box-a": b"box-a-status-test-key-0123456789", "box-b": b"box-b-status-test-key-012345678"}
T0 = 1_767_225_600.0
CREATED_S = time.time() - 60


def fill(ingestor: Ingestor) -> None:
    """box-a: seqs 1, 2, 5 (a gap of 2); box-b: 1..3, and seq 2 again under another id."""

    def send(device: str, seq: int, minute: int) -> str:
        topic = f"carbonedge/site-{device[-1]}/{device}/interval_summary"
        return ingestor.handle(topic, signed_summary(
            device, seq, key=KEYS[device], site=f"site-{device[-1]}", start_s=T0 + 60 * minute,
            created_s=CREATED_S))  # fmt: skip

    assert [send("box-a", s, s) for s in (1, 2, 5)] == ["new"] * 3
    assert [send("box-b", s, s) for s in (1, 2, 3)] == ["new"] * 3
    assert send("box-b", 2, 40) == "replay"


def status(*where: str, as_of_s: float) -> dict:
    as_of = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(as_of_s))
    proc = subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "platform", "status", *where,
         "--late-min", "10", "--as-of", as_of, "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_postgres_status_boxes_gaps_replays_and_late(pg_dsn: str) -> None:
    ingestor = Ingestor(KEYS, store=PostgresStore(pg_dsn))
    fill(ingestor)
    ingestor.close()
    with psycopg.connect(pg_dsn) as conn:  # box-b was last heard from 30 minutes ago
        conn.execute("UPDATE accepted SET received_at = received_at - interval '30 minutes' "
                     "WHERE device_id = 'box-b'")  # fmt: skip
    report = status("--postgres", pg_dsn, as_of_s=time.time() + 60)
    assert (report["boxes"], report["late"], report["with_gaps"], report["missing_seqs"],
            report["replays"]) == (2, 1, 1, 2, 1)  # fmt: skip
    a, b = report["devices"]
    assert (a["device_id"], a["site_id"], a["messages"], a["first_seq"], a["last_seq"],
            a["missing_seqs"], a["replays"], a["late"]) == ("box-a", "site-a", 3, 1, 5, 2, 0,
                                                            False)  # fmt: skip
    assert (b["device_id"], b["missing_seqs"], b["replays"], b["late"]) == ("box-b", 0, 1, True)
    assert 30 < b["quiet_min"] < 33
    assert a["last_created_at"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(CREATED_S)))


def test_sqlite_status_and_the_table(tmp_path: Path) -> None:
    db = tmp_path / "ingest.sqlite"
    ingestor = Ingestor(KEYS, sqlite_path=db)
    fill(ingestor)
    ingestor.close()
    report = status("--db", str(db), as_of_s=time.time() + 15 * 60)
    assert (report["boxes"], report["late"], report["missing_seqs"]) == (2, 2, 2)
    assert [d["replays"] for d in report["devices"]] == [None, None]
    proc = subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "platform", "status", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("2 boxes seen, 0 late (nothing for > 10 min as of ")
    assert "| box-a | site-a | 3 | 1-5 | 2 | - |" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--db", "/nonexistent/ingest.sqlite"], "/nonexistent/ingest.sqlite: no such ingest database"),
    (["--postgres", "host=127.0.0.1 port=1 dbname=x connect_timeout=2"],
     "platform status: PostgreSQL: connection failed"),
])  # fmt: skip
def test_bad_store_is_one_clear_line(args: list[str], message: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", "platform", "status",
                           *args], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr

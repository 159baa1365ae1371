"""The PostgreSQL platform store (issue 31, item 1) against a real PostgreSQL: the same
verification path as SQLite, idempotent inserts, typed columns, day partitions created on
demand, the (device, seq) ledger's gap and replay views, 15-minute/hourly count and emission
views, and a database restart that loses nothing."""

from __future__ import annotations

import json
import time

import pytest
from pg_rig import LocalPostgres, import_psycopg, pg_dsn_fixture, postgres_fixture, signed_summary  # noqa: F401

from carbonedge.runtime.uplink.ingest import Ingestor
from carbonedge.runtime.uplink.ingest_store import StoreUnavailable
from carbonedge.runtime.uplink.pg_store import PostgresStore
from carbonedge.runtime.uplink.verify import KeyRing

psycopg = import_psycopg()

DEVICE, SITE, KEY = "box-31", "harbour", b"box-31-test-hmac-key-0123456789"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TOPIC = f"carbonedge/{SITE}/{DEVICE}/interval_summary"
CREATED_S = time.time() - 5  # within ingest's freshness window; fixed: a resend is identical


def msg(seq: int, *, minute: float | None = None, camera: str = "cam-1", **kw) -> bytes:
    start_s = T0 + 60.0 * (seq if minute is None else minute)
    return signed_summary(DEVICE, seq, key=KEY, site=kw.pop("site", SITE), camera=camera,
                          start_s=start_s, created_s=CREATED_S, **kw)  # fmt: skip


def rows(dsn: str, sql: str, *args) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture(name="ingestor")
def ingestor_fixture(pg_dsn: str):
    ingestor = Ingestor({DEVICE: KEY}, store=PostgresStore(pg_dsn, worker="w1"))
    yield ingestor
    ingestor.close()


def test_verdicts_match_the_sqlite_store(pg_dsn: str, ingestor: Ingestor) -> None:
    sqlite = Ingestor({DEVICE: KEY})
    other_site = f"carbonedge/elsewhere/{DEVICE}/interval_summary"
    cases = [(TOPIC, msg(1)), (TOPIC, msg(1)), (TOPIC, msg(2)),
             (other_site, msg(3, site="elsewhere")), (TOPIC, msg(2, minute=99)),
             (TOPIC, msg(3)[:-5] + b'0000"}'), (TOPIC, b"\x00garbage")]  # fmt: skip
    verdicts = [ingestor.handle(t, p) for t, p in cases]
    assert verdicts == [sqlite.handle(t, p) for t, p in cases]
    assert verdicts == ["new", "duplicate", "new", "rejected", "replay", "rejected", "rejected"]
    reasons = [r[0] for r in rows(pg_dsn, "SELECT reason FROM rejects ORDER BY id")]
    assert reasons[0] == (f"device '{DEVICE}' belongs to site '{SITE}' (pinned at its first "
                          "message), message says 'elsewhere'")  # fmt: skip
    assert "bad signature" in reasons[1] and reasons[2].startswith("not a JSON message")
    counters = dict(rows(pg_dsn, "SELECT name, value FROM ingest_counters WHERE worker = 'w1'"))
    assert counters == {"new": 2, "duplicate": 1, "replay": 1, "rejected": 3}
    assert rows(pg_dsn, "SELECT device_id, seq, replay_msg_id <> accepted_msg_id "
                        "FROM ledger_replays") == [(DEVICE, 2, True)]  # fmt: skip
    assert [m["seq"] for m in ingestor.messages()] == [1, 2]
    assert ingestor.messages()[0] == json.loads(msg(1))


def test_typed_columns_counts_and_day_partitions(pg_dsn: str, ingestor: Ingestor) -> None:
    day2 = 24 * 60  # minutes: the next UTC day
    for seq, minute in ((1, 0), (2, 1), (3, day2)):
        assert ingestor.handle(TOPIC, msg(seq, minute=minute, cars=seq)) == "new"
    assert ingestor.handle(TOPIC, msg(4, minute=2, camera="cam-2", co2_g=None)) == "new"
    parts = {
        r[0]
        for r in rows(
            pg_dsn,
            "SELECT inhrelid::regclass::text FROM pg_inherits "
            "WHERE inhparent = 'interval_summary'::regclass",
        )
    }
    assert parts == {"interval_summary_p20260101", "interval_summary_p20260102"}
    summary = rows(pg_dsn, "SELECT camera, interval_start, interval_end - interval_start, frames, "
                           "vehicles, co2_g, body->>'source_id' FROM interval_summary "
                           "WHERE seq = 3")  # fmt: skip
    ((camera, start, length, frames, vehicles, co2_g, body_camera),) = summary
    assert (camera, start.timestamp(), length.total_seconds(), frames, vehicles, co2_g,
            body_camera) == ("cam-1", T0 + 60 * day2, 60.0, 1500, 11, 250.0, "cam-1")  # fmt: skip
    counts = rows(
        pg_dsn,
        "SELECT c.line, c.direction, c.class, c.count FROM interval_counts c "
        "JOIN accepted a USING (msg_id) WHERE a.seq = 2 ORDER BY 1, 2, 3",
    )
    assert counts == [("exit", "in", "car", 2), ("stop-line", "in", "bus", 1),
                      ("stop-line", "in", "car", 2), ("stop-line", "out", "car", 3),
                      ("stop-line", "out", "truck", 1)]  # fmt: skip


def test_15_minute_and_hourly_views(pg_dsn: str, ingestor: Ingestor) -> None:
    # minutes 0..29 on cam-1 (cars=1 each), minute 14 again (a duplicate: counted once)
    for seq in range(1, 31):
        assert ingestor.handle(TOPIC, msg(seq, minute=seq - 1, cars=1)) == "new"
    assert ingestor.handle(TOPIC, msg(15, minute=14, cars=1)) == "duplicate"
    q15 = rows(pg_dsn, "SELECT bucket_start, vehicles, summaries FROM counts_15min WHERE "
                       "camera = 'cam-1' AND line = 'stop-line' AND direction = 'in' "
                       "AND class = 'car' ORDER BY 1")  # fmt: skip
    assert [(b.timestamp() - T0, v, n) for b, v, n in q15] == [(0.0, 15, 15), (900.0, 15, 15)]
    hourly = rows(pg_dsn, "SELECT site_id, vehicles FROM counts_hourly WHERE line = 'exit'")
    assert hourly == [(SITE, 60)]
    em = rows(pg_dsn, "SELECT bucket_start, vehicles, co2_g, summaries FROM emissions_15min "
                      "ORDER BY 1")  # fmt: skip
    assert [(b.timestamp() - T0, v, round(c, 3), n) for b, v, c, n in em] == [
        (0.0, 15 * 7, 15 * 250.0, 15),
        (900.0, 15 * 7, 15 * 250.0, 15),
    ]
    assert rows(pg_dsn, "SELECT sum(co2_g) FROM emissions_hourly") == [(30 * 250.0,)]


def test_ledger_gaps_in_seq_order_and_merged_seqs(pg_dsn: str, ingestor: Ingestor) -> None:
    for seq in (5, 1, 2, 9):  # arrival order is not seq order
        assert ingestor.handle(TOPIC, msg(seq)) == "new"
    assert rows(pg_dsn, "SELECT after_seq, before_seq, missing FROM ledger_gaps") == [
        (2, 5, 2),
        (5, 9, 3),
    ]
    # a compacted summary covering 6..8 (seq 8, merged 6, 7) closes the second gap
    assert ingestor.handle(TOPIC, msg(8, merged_seqs=[6, 7])) == "new"
    assert rows(pg_dsn, "SELECT after_seq, before_seq, missing FROM ledger_gaps") == [(2, 5, 2)]
    assert [r[0] for r in rows(pg_dsn, "SELECT seq FROM device_messages")] == [1, 2, 5, 8, 9]
    # reusing a merged seq under another msg_id is a replay
    assert ingestor.handle(TOPIC, msg(7, minute=50)) == "replay"
    status = rows(pg_dsn, "SELECT messages, first_seq, last_seq, missing_seqs, replays "
                          "FROM device_status")  # fmt: skip
    assert status == [(5, 1, 9, 2, 1)]


def test_two_stores_racing_on_the_same_messages_store_each_once(pg_dsn: str) -> None:
    import threading

    stores = [Ingestor({DEVICE: KEY}, store=PostgresStore(pg_dsn, worker=f"w{i}"))
              for i in range(2)]  # fmt: skip
    payloads = [msg(seq) for seq in range(1, 41)]
    verdicts: list[str] = []

    def run(ingestor: Ingestor) -> None:
        verdicts.extend(ingestor.handle(TOPIC, p) for p in payloads)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(verdicts).count("new") == 40 and verdicts.count("duplicate") == 40
    assert rows(pg_dsn, "SELECT count(*), count(DISTINCT msg_id) FROM interval_summary") == [
        (40, 40)
    ]
    assert rows(pg_dsn, "SELECT count(*) FROM ledger_gaps") == [(0,)]
    for s in stores:
        s.close()


def test_a_database_restart_raises_store_unavailable_then_reconnects(
    postgres: LocalPostgres, pg_dsn: str, ingestor: Ingestor
) -> None:
    assert ingestor.handle(TOPIC, msg(1)) == "new"
    postgres.stop(immediate=True)
    try:
        with pytest.raises(StoreUnavailable, match=r"PostgreSQL 127\.0\.0\.1:\d+/t_"):
            ingestor.handle(TOPIC, msg(2))
    finally:
        postgres.start()
    assert ingestor.handle(TOPIC, msg(2)) == "new"
    assert ingestor.handle(TOPIC, msg(1)) == "duplicate"
    assert [m["seq"] for m in ingestor.messages()] == [1, 2]


def test_unreachable_database_at_start_is_one_clear_error() -> None:
    with pytest.raises(StoreUnavailable, match=r"^PostgreSQL 127\.0\.0\.1:1/x: "):
        PostgresStore("host=127.0.0.1 port=1 dbname=x user=postgres", connect_timeout_s=2)


def test_keys_folder_site_file_is_checked_before_the_store(pg_dsn: str) -> None:
    ingestor = Ingestor(KeyRing({DEVICE: KEY}, sites={DEVICE: "north"}),
                        store=PostgresStore(pg_dsn))  # fmt: skip
    assert ingestor.handle(TOPIC, msg(1)) == "rejected"
    assert rows(pg_dsn, "SELECT count(*) FROM device_sites") == [(0,)]
    ingestor.close()

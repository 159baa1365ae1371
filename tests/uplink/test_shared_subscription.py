"""Horizontal ingest (issue 31, item 2): two ``carbonedge ingest --postgres`` worker processes
share one MQTT 5 shared subscription on a real Mosquitto and one real PostgreSQL. Every message
is stored exactly once, even though one worker is SIGKILLed mid-run and restarted with its
session, and per-device order is the store's seq order with no gap."""

from __future__ import annotations

import time
from pathlib import Path

from pg_rig import pg_dsn_fixture, postgres_fixture, signed_summary  # noqa: F401
from platform_rig import IngestWorker, Publisher, device_key, pg_count, wait_for, write_keys
from uplink_rigs import make_broker

DEVICES = [f"box-{i:02d}" for i in range(10)]
SEQS = 40  # per device: 400 messages
T0 = 1_767_225_600.0


def payloads() -> list[tuple[str, bytes]]:
    now = time.time()
    out = []
    for seq in range(1, SEQS + 1):  # interleaved, as boxes publish
        for device in DEVICES:
            topic = f"carbonedge/site-a/{device}/interval_summary"
            out.append((topic, signed_summary(device, seq, key=device_key(device), site="site-a",
                                              start_s=T0 + 60 * seq, created_s=now)))  # fmt: skip
    return out


def test_two_workers_one_killed_every_message_exactly_once(tmp_path: Path, pg_dsn: str) -> None:
    broker = make_broker(tmp_path / "broker").start()
    keys = write_keys(tmp_path / "keys", DEVICES)
    workers = [IngestWorker(f"ingest-{i}", port=broker.port, keys=keys, dsn=pg_dsn, group="g",
                            log_dir=tmp_path) for i in (1, 2)]  # fmt: skip
    publisher = None
    try:
        for w in workers:
            w.start()
        publisher = Publisher(broker.port, "boxes")
        messages = payloads()
        kill_at, restart_at = len(messages) // 3, 2 * len(messages) // 3
        for n, (topic, payload) in enumerate(messages):
            publisher.publish(topic, payload)
            if n == kill_at:  # worker 1 dies mid-run, right after a burst: messages in flight
                workers[0].kill()
            if n == restart_at:
                workers[0].start(until="connected to")  # same id: its session, its backlog
            if not kill_at - 150 < n < kill_at:
                time.sleep(0.002)
        wait_for(lambda: publisher.acked == len(messages), 60, "the broker to take every message")
        wait_for(lambda: pg_count(pg_dsn, "SELECT count(*) FROM accepted") >= len(messages), 120,
                 "every message in PostgreSQL")  # fmt: skip
        time.sleep(1.0)  # redeliveries still arriving would show up as extra rows below
        assert pg_count(pg_dsn, "SELECT count(*) FROM accepted") == len(messages)
        assert pg_count(pg_dsn, "SELECT count(*) FROM interval_summary") == len(messages)
        assert pg_count(pg_dsn, "SELECT count(DISTINCT msg_id) FROM interval_summary") == len(
            messages
        )
        assert pg_count(pg_dsn, "SELECT count(*) FROM ledger_gaps") == 0
        assert pg_count(pg_dsn, "SELECT count(*) FROM ledger_replays") == 0
        assert pg_count(pg_dsn, "SELECT count(DISTINCT worker) FROM accepted") == 2
        for device in DEVICES:  # per-device order restored by seq in the store
            assert (
                pg_count(
                    pg_dsn,
                    f"SELECT max(seq) - min(seq) + 1 - count(*) FROM "
                    f"device_messages WHERE device_id = '{device}'",
                )
                == 0
            )
        assert pg_count(pg_dsn, "SELECT coalesce(sum(value), 0) FROM ingest_counters "
                                "WHERE name = 'rejected'") == 0  # fmt: skip
        # each message went to one worker of the group: duplicates are only the redeliveries
        # of what the killed worker had in flight (without the group, every message twice)
        duplicates = pg_count(pg_dsn, "SELECT coalesce(sum(value), 0) FROM ingest_counters "
                                      "WHERE name = 'duplicate'")  # fmt: skip
        print(f"duplicates dropped by the store: {duplicates}")
        assert duplicates < len(messages) // 4
    finally:
        if publisher is not None:
            publisher.close()
        for w in workers:
            w.stop()
        broker.stop()

"""The store's schema version: a file of the previous release opens, keeps its backlog and drains;
a newer file is refused; the one Transaction rolls back a failed COMMIT.

``data/store_v0_backlog.db`` was written by the release before the schema was versioned (see
``data/make_store_v0.py``; ``store_v0_backlog.json`` describes it): a site run with its uplink and
HJ 212 link pointed at ports where nothing listened, so every message is still queued.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "uplink"))

from uplink_rigs import (  # noqa: E402
    KEY,
    Broker,
    broker_fixture,  # noqa: F401 - fixture
    mqtt_sink,
    uplink_config,
    wait_until,
)

from carbonedge.runtime.base.errors import StoreError  # noqa: E402
from carbonedge.runtime.base.events import IntervalSummary  # noqa: E402
from carbonedge.runtime.store import SCHEMA_VERSION, Store, Transaction, open_db  # noqa: E402
from carbonedge.runtime.store import schema as store_schema  # noqa: E402
from carbonedge.runtime.store.hj212 import Hj212Queue  # noqa: E402
from carbonedge.runtime.uplink.forwarder import Forwarder  # noqa: E402
from carbonedge.runtime.uplink.outbox import Outbox  # noqa: E402
from carbonedge.runtime.uplink.sink import Outcome, Sink  # noqa: E402
from carbonedge.runtime.uplink.verify import verify_message  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
V0 = json.loads((DATA / "store_v0_backlog.json").read_text())
DEVICE = "fixture-box"  # the fixture's device id
T0 = 1_767_254_400.0


def v0_copy(tmp_path: Path) -> Path:
    """A private copy of the release's store file (the fixture itself is never opened)."""
    path = tmp_path / "store.sqlite"
    shutil.copyfile(DATA / "store_v0_backlog.db", path)
    return path


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path)


def tables(path: Path) -> set[str]:
    with raw(path) as con:
        return {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def user_version(path: Path) -> int:
    con = raw(path)
    try:
        return con.execute("PRAGMA user_version").fetchone()[0]
    finally:
        con.close()


class Capture(Sink):
    """An in-process sink that acknowledges everything it is handed."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self._pending: list[int] = []

    def start(self) -> None:
        pass

    def free_slots(self) -> int:
        return 100

    def submit(self, message) -> None:
        self.sent.append(message.payload)
        self._pending.append(message.row_id)

    def outcomes(self, timeout_s: float) -> list[Outcome]:
        done, self._pending = [Outcome(r, "acked") for r in self._pending], []
        return done

    def in_flight(self) -> int:
        return 0

    def stop(self) -> None:
        pass


def test_the_fixture_is_a_release_store_with_a_backlog() -> None:
    assert V0["user_version"] == 0 and V0["journal_mode"] == "wal"
    assert {"sequence", "outbox_sequence"} <= tables(DATA / "store_v0_backlog.db")
    assert V0["tables"]["outbox"] == len(V0["outbox_msg_ids_in_send_order"]) >= 5


def test_release_store_opens_migrated_with_its_backlog_in_order(tmp_path: Path) -> None:
    path = v0_copy(tmp_path)
    with Store(path) as store:
        assert len(store.summaries()) == V0["tables"]["summaries"]
        assert store.event_count() == V0["tables"]["events"]
        assert set(store.reported_calibrations()) == {
            r["source_id"] for r in V0["calibration_reported"]
        }
    assert user_version(path) == SCHEMA_VERSION == 1
    found = tables(path)
    assert "sequences" in found and not {"sequence", "outbox_sequence"} & found
    with raw(path) as con:
        assert dict(con.execute("SELECT counter, COUNT(*) FROM sequences GROUP BY 1")) == {
            "summary": len(V0["summary_sequence"]), "uplink": len(V0["outbox_sequence"])
        }  # fmt: skip
    outbox = Outbox(path)
    try:
        rows = outbox.pending(limit=1000)
        assert [r.msg_id for r in rows] == V0["outbox_msg_ids_in_send_order"]
        assert [r.seq for r in rows] == V0["outbox_seqs_in_send_order"]
        assert [r.kind for r in rows] == [r["kind"] for r in V0["outbox_send_order"]]
        assert outbox.stats()["sent_unacked"] == sum(r["sent"] for r in V0["outbox_send_order"])
        # the uplink counter continues after the highest queued seq
        assert outbox.enqueue("fire_alarm", DEVICE, {"id": "a"}, "alarm-1") == (
            V0["max_outbox_seq"] + 1
        )
    finally:
        outbox.close()
    with Store(path) as store:  # and the summary counter after the last summary
        new = IntervalSummary(DEVICE, "road", 0, T0 + 3600, T0 + 3615, {}, 10, "motion")
        assert store.write_summary(new).seq == V0["summary_sequence"][DEVICE] + 1
    queue = Hj212Queue(path)
    try:
        order = [(p["qn"], p["cn"]) for p in V0["hj212_queue_send_order"]]
        assert queue.depth() == len(order)
        assert (queue.head().qn, queue.head().cn) == order[0]
        assert queue.get_state("last_qn_ms") == V0["hj212_state"]["last_qn_ms"]
    finally:
        queue.close()


def test_migration_runs_once_and_a_failed_step_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = v0_copy(tmp_path)

    def broken(db: sqlite3.Connection) -> None:
        store_schema._v0_to_v1(db)
        raise sqlite3.OperationalError("disk I/O error (injected)")

    monkeypatch.setitem(store_schema.MIGRATIONS, 0, broken)
    with pytest.raises(StoreError, match="disk I/O error"):
        Store(path)
    assert user_version(path) == 0 and {"sequence", "outbox_sequence"} <= tables(path)
    assert "sequences" not in tables(path)  # the step's half-done work was rolled back
    monkeypatch.undo()
    for _ in range(2):  # the second open finds version 1 and does nothing
        db = open_db(path)
        assert store_schema.read_version(db) == 1
        db.close()
    with raw(path) as con:
        assert con.execute("SELECT last_seq FROM sequences WHERE counter = 'uplink'").fetchone()[
            0
        ] == V0["max_outbox_seq"]  # fmt: skip


def test_release_backlog_drains_in_order_through_the_forwarder(tmp_path: Path) -> None:
    path = v0_copy(tmp_path)  # opened by the forwarder first: it migrates the file itself
    sink = Capture()
    fwd = Forwarder(uplink_config({"type": "http", "url": "http://127.0.0.1:9/"}),
                    device_id=DEVICE, sqlite_path=path, sink=sink)  # fmt: skip
    for _ in range(10):
        fwd.step()
    envelopes = [verify_message(p, {DEVICE: KEY}) for p in sink.sent]
    assert [e["msg_id"] for e in envelopes] == V0["outbox_msg_ids_in_send_order"]
    assert [e["seq"] for e in envelopes] == V0["outbox_seqs_in_send_order"]
    assert fwd.stop(flush_timeout_s=0)["pending"] == 0
    assert user_version(path) == SCHEMA_VERSION


def test_release_backlog_drains_in_order_to_mosquitto(tmp_path: Path, broker: Broker) -> None:
    from carbonedge.runtime.uplink.ingest import Ingestor, MqttIngest

    ingestor = Ingestor({DEVICE: KEY})
    consumer = MqttIngest(ingestor, host="127.0.0.1", port=broker.port).start()
    assert consumer.subscribed.wait(10), "the consumer could not subscribe"
    path = v0_copy(tmp_path)
    fwd = Forwarder(uplink_config(mqtt_sink(broker.port)), device_id=DEVICE,
                    sqlite_path=path).start()  # fmt: skip
    try:
        expected = len(V0["outbox_msg_ids_in_send_order"])
        wait_until(lambda: ingestor.counts["new"] >= expected, 20, "the whole backlog")
    finally:
        stats = fwd.stop()
        consumer.stop()
    got = ingestor.messages()
    assert [e["msg_id"] for e in got] == V0["outbox_msg_ids_in_send_order"]
    assert [e["seq"] for e in got] == V0["outbox_seqs_in_send_order"]
    assert stats["pending"] == 0 and ingestor.counts["rejected"] == 0


@pytest.mark.parametrize("opener", [Store, Outbox, Hj212Queue, open_db])
def test_a_newer_store_is_refused_untouched(tmp_path: Path, opener) -> None:
    path = tmp_path / "newer.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE future (x)")
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError) as err:
        opener(path)
    message = str(err.value)
    assert str(path) in message
    assert f"schema version is {SCHEMA_VERSION + 1}" in message
    assert f"version {SCHEMA_VERSION} of this release" in message
    assert path.read_bytes() == before and user_version(path) == SCHEMA_VERSION + 1


def test_recover_refuses_a_newer_store_and_moves_nothing(tmp_path: Path) -> None:
    from carbonedge.runtime.uplink.recover import recover

    path = tmp_path / "newer.sqlite"
    con = sqlite3.connect(path)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.execute("CREATE TABLE future (x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer than version"):
        recover(path)
    assert [p.name for p in tmp_path.iterdir()] == ["newer.sqlite"]


def test_recover_salvages_a_release_store_into_the_new_layout(tmp_path: Path) -> None:
    from carbonedge.runtime.uplink.recover import recover

    path = v0_copy(tmp_path)
    report = recover(path)
    assert report["tables"]["outbox"] == {"salvaged": V0["tables"]["outbox"], "unreadable": 0}
    assert report["tables"]["outbox_sequence"]["salvaged"] == 1  # copied in its own layout
    assert user_version(path) == SCHEMA_VERSION
    outbox = Outbox(path)
    try:
        assert [r.msg_id for r in outbox.pending(limit=100)] == V0["outbox_msg_ids_in_send_order"]
        seq = outbox.enqueue("fire_alarm", DEVICE, {"id": "a"}, "alarm-after-recover")
        assert seq == V0["max_outbox_seq"] + 1  # the readable counter was kept, not jumped
    finally:
        outbox.close()


# --- the one Transaction -------------------------------------------------------------------
def _deferred_violation(db: sqlite3.Connection) -> None:
    """Temp tables whose foreign key is checked only at COMMIT (SQLite then keeps the
    transaction open: the case that used to leave a connection stuck)."""
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("CREATE TEMP TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TEMP TABLE child (parent_id INTEGER REFERENCES parent (id) "
               "DEFERRABLE INITIALLY DEFERRED)")  # fmt: skip


def test_failed_commit_rolls_back_and_raises_store_error(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite"
    db = open_db(path)
    _deferred_violation(db)
    with pytest.raises(StoreError) as err:
        with Transaction(db):
            db.execute("INSERT INTO events VALUES ('e1', 'k', 'd', 's', 't', '{}')")
            db.execute("INSERT INTO temp.child VALUES (42)")  # no parent 42: COMMIT fails
    assert str(path) in str(err.value) and "commit failed" in str(err.value)
    assert "rolled back" in str(err.value)
    assert not db.in_transaction  # not left open: the next transaction works
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    with Transaction(db):
        db.execute("INSERT INTO events VALUES ('e2', 'k', 'd', 's', 't', '{}')")
    assert db.execute("SELECT id FROM events").fetchall() == [("e2",)]
    db.close()


def test_an_exception_in_the_block_rolls_back_and_propagates(tmp_path: Path) -> None:
    db = open_db(tmp_path / "box.sqlite")
    with pytest.raises(KeyError):
        with Transaction(db):
            db.execute("INSERT INTO events VALUES ('e1', 'k', 'd', 's', 't', '{}')")
            raise KeyError("boom")
    assert not db.in_transaction
    assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    db.close()


def test_forwarder_ack_whose_commit_fails_is_kept_and_acked_later(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite"
    with Store(path) as store:
        for i in range(3):
            store.write_summary(IntervalSummary(DEVICE, "cam", 0, T0 + 60 * i, T0 + 60 * (i + 1),
                                                {}, 10, "motion"))  # fmt: skip
    sink = Capture()
    fwd = Forwarder(uplink_config({"type": "http", "url": "http://127.0.0.1:9/"}),
                    device_id=DEVICE, sqlite_path=path, sink=sink)  # fmt: skip
    db = fwd.outbox.db
    _deferred_violation(db)
    db.execute("CREATE TEMP TRIGGER fail_ack AFTER DELETE ON main.outbox "
               "BEGIN INSERT INTO child VALUES (42); END")  # fmt: skip
    fwd.step()  # hands the 3 rows over
    with pytest.raises(StoreError, match="commit failed"):
        fwd.step()  # the acks' COMMIT fails
    assert not db.in_transaction and fwd.outbox.stats()["pending"] == 3
    db.execute("DROP TRIGGER temp.fail_ack")
    fwd.step()  # the recorded outcomes are committed now, nothing is sent twice
    assert fwd.outbox.stats()["pending"] == 0 and len(sink.sent) == 3
    fwd.outbox.close()


def test_layout_v0_is_the_release_layout(tmp_path: Path) -> None:
    """``schema.LAYOUT_V0`` (used to salvage a v0 file) creates what the release created."""
    con = sqlite3.connect(tmp_path / "v0.sqlite")
    for statement in store_schema.LAYOUT_V0:
        con.execute(statement)
    made = {
        name: " ".join(sql.replace("IF NOT EXISTS ", "").split())
        for name, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL")
    }
    con.close()
    release = {name: " ".join(sql.split()) for name, sql in V0["schema"].items()}
    assert made == release


def test_a_migrated_file_has_the_layout_of_a_new_one(tmp_path: Path) -> None:
    def layout_of(path: Path) -> dict[str, str]:
        with raw(path) as con:
            return dict(con.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))

    migrated, fresh = v0_copy(tmp_path), tmp_path / "fresh.sqlite"
    for path in (migrated, fresh):
        open_db(path).close()
    assert layout_of(migrated) == layout_of(fresh)
    assert user_version(fresh) == user_version(migrated) == SCHEMA_VERSION

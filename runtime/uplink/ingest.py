"""Reference consumer (``carbonedge ingest``): subscribe, verify, de-duplicate, store.

It shows the contract end to end for a platform team: every payload is verified
(``verify_message``), accepted messages are de-duplicated by ``msg_id`` and checked for (device,
seq) replays (``SeenLedger``), then written to SQLite (table ``messages``, in arrival order) and/or
printed as JSON lines. Rejected payloads are kept in ``rejects`` with the reason. The MQTT client
acknowledges a message only after ``handle`` returned, so a consumer crash means a redelivery,
never a loss.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import ssl
import threading
import time
from pathlib import Path
from typing import Any, Mapping, TextIO

from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.uplink.errors import VerificationError
from carbonedge.runtime.uplink.verify import DEFAULT_MAX_BYTES, SeenLedger, verify_message

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    site_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    created_at TEXT NOT NULL,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    envelope TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejects (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    reason TEXT NOT NULL,
    payload_head TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_status (
    device_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ingest_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


class Ingestor:
    """Verifies, de-duplicates and stores messages; thread-safe through one lock."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        *,
        sqlite_path: Path | None = None,
        out: TextIO | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self.keys, self.out, self.max_bytes = keys, out, max_bytes
        target = str(sqlite_path) if sqlite_path is not None else ":memory:"
        if sqlite_path is not None:
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if sqlite_path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        self.ledger = SeenLedger(self.db)
        self._lock = threading.Lock()
        self.counts = {"raw": 0, "new": 0, "duplicate": 0, "replay": 0, "rejected": 0}

    def handle(self, topic: str, payload: bytes) -> str:
        """Process one payload; returns new | duplicate | replay | rejected | status."""
        with self._lock:
            if topic.endswith("/status"):
                device = topic.split("/")[-2]
                self.db.execute(
                    "INSERT INTO device_status VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE "
                    "SET status = excluded.status, received_at = excluded.received_at",
                    (device, payload.decode("utf-8", "replace")[:32], utc_iso(time.time())),
                )
                return "status"
            self.counts["raw"] += 1
            verdict = self._handle(topic, payload)
            self.counts[verdict] += 1
            self.db.execute(
                "INSERT INTO ingest_counters VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (verdict,),
            )
            return verdict

    def _handle(self, topic: str, payload: bytes) -> str:
        try:
            envelope = verify_message(payload, self.keys, max_bytes=self.max_bytes)
            expected_tail = f"/{envelope['device_id']}/{envelope['kind']}"
            if topic and not topic.endswith(expected_tail):
                raise VerificationError(f"topic {topic!r} does not end with {expected_tail!r}")
        except VerificationError as exc:
            logger.warning("rejected a message on %s: %s", topic, exc)
            self.db.execute(
                "INSERT INTO rejects (received_at, topic, reason, payload_head) VALUES (?,?,?,?)",
                (utc_iso(time.time()), topic, str(exc), payload[:200].decode("utf-8", "replace")),
            )
            return "rejected"
        self.db.execute("BEGIN IMMEDIATE")
        try:
            verdict = self.ledger.check(envelope)
            if verdict == "new":
                self._store(topic, envelope)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        if verdict == "replay":
            logger.warning("replay or reset counter: device %s seq %s arrived again as %s",
                           envelope["device_id"], envelope["seq"], envelope["msg_id"])  # fmt: skip
        elif verdict == "new" and self.out is not None:
            self.out.write(json.dumps(envelope, separators=(",", ":")) + "\n")
            self.out.flush()
        return verdict

    def _store(self, topic: str, env: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO messages (msg_id, site_id, device_id, seq, kind, created_at, received_at,"
            " topic, envelope) VALUES (?,?,?,?,?,?,?,?,?)",
            (env["msg_id"], env["site_id"], env["device_id"], env["seq"], env["kind"],
             env["created_at"], utc_iso(time.time()), topic, json.dumps(env)),
        )  # fmt: skip

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Accepted envelopes in arrival order."""
        query, args = "SELECT envelope FROM messages", ()
        if kind is not None:
            query, args = query + " WHERE kind = ?", (kind,)
        with self._lock:
            rows = self.db.execute(query + " ORDER BY arrival", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self.db.close()


class MqttIngest:
    """Subscribes with QoS 1 and a persistent session; feeds every message to an ``Ingestor``."""

    def __init__(
        self,
        ingestor: Ingestor,
        *,
        host: str,
        port: int,
        topic_filter: str = "carbonedge/+/+/+",
        client_id: str = "carbonedge-ingest",
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        session_expiry_s: int = 7 * 86400,
    ) -> None:
        import paho.mqtt.client as mqtt

        self.ingestor, self.topic_filter = ingestor, topic_filter
        self.host, self.port = host, port
        self.subscribed = threading.Event()
        self.last_message_s = time.monotonic()
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(
                ca_certs=str(ca_file), certfile=str(cert_file) if cert_file else None,
                keyfile=str(key_file) if key_file else None, tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )  # fmt: skip
        self.client.reconnect_delay_set(0.1, 2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = self._on_message
        self._session_expiry_s = session_expiry_s

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("ingest: %s:%s refused the connection: %s", self.host, self.port,
                         reason_code)  # fmt: skip
            return
        client.subscribe(self.topic_filter, qos=1)

    def _on_message(self, client, userdata, message) -> None:
        self.last_message_s = time.monotonic()
        try:
            self.ingestor.handle(message.topic, message.payload)
        except Exception:  # noqa: BLE001 - one bad message never stops the consumer
            logger.exception("ingest: cannot handle a message on %s", message.topic)

    def start(self) -> MqttIngest:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        self.client.connect_async(self.host, self.port, keepalive=30, clean_start=False,
                                  properties=props)  # fmt: skip
        self.client.loop_start()
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

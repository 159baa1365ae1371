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
from typing import Any, Callable, Mapping, TextIO

from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.uplink.errors import VerificationError
from carbonedge.runtime.uplink.verify import (
    DEFAULT_MAX_BYTES,
    KeyRing,
    Rejected,
    SeenLedger,
    parse_utc,
    verify_message,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 30 * 86400.0  # a box may hold its outbox for weeks offline
DEFAULT_MAX_FUTURE_S = 600.0

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
    payload_head TEXT NOT NULL,
    device_id TEXT,
    raw_bytes INTEGER
);
CREATE TABLE IF NOT EXISTS status_hints (
    device_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS device_sites (
    device_id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    pinned_at TEXT NOT NULL
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
        max_age_s: float | None = DEFAULT_MAX_AGE_S,
        max_future_s: float = DEFAULT_MAX_FUTURE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys, self.out, self.max_bytes = keys, out, max_bytes
        self.max_age_s, self.max_future_s, self.clock = max_age_s, max_future_s, clock
        target = str(sqlite_path) if sqlite_path is not None else ":memory:"
        if sqlite_path is not None:
            Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if sqlite_path is not None:
            self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(rejects)")}
        for column, sql_type in (("device_id", "TEXT"), ("raw_bytes", "INTEGER")):
            if column not in columns:  # an ingest database from before these columns
                self.db.execute(f"ALTER TABLE rejects ADD COLUMN {column} {sql_type}")
        self.ledger = SeenLedger(self.db)
        self._lock = threading.Lock()
        self.counts = {"raw": 0, "new": 0, "duplicate": 0, "replay": 0, "rejected": 0}

    def handle(self, topic: str, payload: bytes) -> str:
        """Process one payload; returns new | duplicate | replay | rejected | status."""
        with self._lock:
            if topic.endswith("/status"):
                return self._status_hint(topic, payload)
            self.counts["raw"] += 1
            verdict = self._handle(topic, payload)
            self.counts[verdict] += 1
            self.db.execute(
                "INSERT INTO ingest_counters VALUES (?, 1) "
                "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                (verdict,),
            )
            return verdict

    def _reject(self, topic: str, payload: bytes, reason: str, device: str | None) -> str:
        """Keep a reject record (reason, claimed device, size) and log one line."""
        def clean(text: str, limit: int) -> str:  # one line, storable UTF-8
            return " ".join(text.split())[:limit].encode("utf-8", "replace").decode("utf-8")

        reason, topic = clean(reason, 500), clean(topic, 500)
        if device is None:  # the device the topic names: carbonedge/<site>/<device>/<kind>
            parts = topic.split("/")
            device = parts[-2][:64] if len(parts) >= 4 else None
        device = clean(device, 64) if device else None
        logger.warning("rejected a message on %s (%d bytes, device %s): %s",
                       topic, len(payload), device or "unknown", reason)  # fmt: skip
        self.db.execute(
            "INSERT INTO rejects (received_at, topic, reason, payload_head, device_id, raw_bytes)"
            " VALUES (?,?,?,?,?,?)",
            (utc_iso(time.time()), topic, reason, payload[:200].decode("utf-8", "replace"),
             device, len(payload)),
        )  # fmt: skip
        return "rejected"

    def _status_hint(self, topic: str, payload: bytes) -> str:
        """``.../status`` (online/offline, retained, unsigned: anyone allowed to publish there can
        write it) is kept only as a hint in ``status_hints``, for devices with a key; the device's
        state is what its signed messages say (``device_health``)."""
        parts = topic.split("/")
        device = parts[-2] if len(parts) >= 4 else ""
        known = self.keys.devices() if isinstance(self.keys, KeyRing) else set(self.keys)
        if device not in known:
            return self._reject(topic, payload, "status from a device with no key", None)
        self.db.execute(
            "INSERT INTO status_hints VALUES (?, ?, ?) ON CONFLICT(device_id) DO UPDATE "
            "SET status = excluded.status, received_at = excluded.received_at",
            (device, payload.decode("utf-8", "replace")[:32], utc_iso(self.clock())),
        )
        return "status"

    def _check_fresh(self, envelope: dict[str, Any]) -> None:
        """``created_at`` within [now - max_age_s, now + max_future_s]: an old message replayed
        after the ledger forgot it, or a box clock far ahead, is refused."""
        device = envelope["device_id"]
        try:
            created_s = parse_utc(envelope["created_at"], what="created_at").timestamp()
        except ValueError as exc:
            raise Rejected(str(exc), device) from None
        now_s = self.clock()
        if created_s > now_s + self.max_future_s:
            raise Rejected(
                f"device {device!r} seq {envelope['seq']}: created_at {envelope['created_at']} is "
                f"{created_s - now_s:.0f} s in the future (allowed skew {self.max_future_s:.0f} s)",
                device,
            )
        if self.max_age_s is not None and created_s < now_s - self.max_age_s:
            raise Rejected(
                f"device {device!r} seq {envelope['seq']}: created_at {envelope['created_at']} is "
                f"{(now_s - created_s) / 3600:.1f} h old, outside the freshness window of "
                f"{self.max_age_s / 3600:.1f} h", device,
            )  # fmt: skip

    def _check_site(self, envelope: dict[str, Any]) -> None:
        """The site a device belongs to: its ``<device_id>.site`` file in the keys folder, else
        the site of its first accepted message (pinned in ``device_sites``)."""
        device, site = envelope["device_id"], envelope["site_id"]
        sites = self.keys.sites if isinstance(self.keys, KeyRing) else {}
        expected, how = sites.get(device), "its keys-folder .site file"
        if expected is None:
            row = self.db.execute(
                "SELECT site_id FROM device_sites WHERE device_id = ?", (device,)
            ).fetchone()
            expected, how = (row[0] if row else None), "pinned at its first message"
        if expected is None:
            self.db.execute(
                "INSERT INTO device_sites VALUES (?, ?, ?)", (device, site, utc_iso(self.clock()))
            )
        elif expected != site:
            raise Rejected(
                f"device {device!r} belongs to site {expected!r} ({how}), message says {site!r}",
                device,
            )

    def _handle(self, topic: str, payload: bytes) -> str:
        try:
            envelope = verify_message(payload, self.keys, max_bytes=self.max_bytes)
            expected_tail = f"/{envelope['device_id']}/{envelope['kind']}"
            if topic and not topic.endswith(expected_tail):
                raise Rejected(
                    f"topic {topic[:200]!r} does not end with {expected_tail!r}",
                    envelope["device_id"],
                )
            self._check_fresh(envelope)
        except VerificationError as exc:
            return self._reject(topic, payload, str(exc), getattr(exc, "device_id", None))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            try:
                self._check_site(envelope)
            except Rejected as exc:
                self.db.execute("ROLLBACK")
                return self._reject(topic, payload, str(exc), exc.device_id)
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
        except Exception as exc:  # noqa: BLE001 - one bad message never stops the consumer
            logger.error("ingest: cannot handle a message on %s: %s: %s", message.topic,
                         type(exc).__name__, exc)  # fmt: skip

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

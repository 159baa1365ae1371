"""Reference consumer (``carbonedge ingest``): subscribe, verify, de-duplicate, store.

It shows the contract end to end for a platform team: every payload is verified
(``verify_message``), accepted messages are de-duplicated by ``msg_id`` and checked for (device,
seq) replays, then written to the store (``sqlite_store.py``: one SQLite file, the default;
``pg_store.py``: PostgreSQL, shared by N workers) and/or printed as JSON lines. Rejected payloads
are kept in ``rejects`` with the reason. The MQTT client acknowledges a message only after the
store committed it (manual acks), and retries while the database is unreachable, so a consumer
crash or a database restart means a redelivery, never a loss. N workers share the load through
an MQTT 5 shared subscription (``share_group``): each keeps its own persistent session. Mosquitto
2.0 does not restore shared subscriptions from its persistence file, so what reaches a restarted
broker before the first worker subscribes again is dropped; ``partition=(i, n)`` instead gives
every worker a plain persistent subscription (restored across broker restarts) and has worker i
store only the devices with ``crc32(device_id) % n == i`` (acknowledging the others unread).
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import zlib
from pathlib import Path
from typing import Any, Callable, Mapping, TextIO

from carbonedge.runtime.uplink.errors import VerificationError
from carbonedge.runtime.uplink.ingest_store import (
    SITE_FILE,
    IngestStore,
    StoreUnavailable,
    check_site,
)
from carbonedge.runtime.uplink.sqlite_store import SqliteStore
from carbonedge.runtime.uplink.verify import (
    DEFAULT_MAX_BYTES,
    KeyRing,
    Rejected,
    parse_utc,
    verify_message,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 30 * 86400.0  # a box may hold its outbox for weeks offline
DEFAULT_MAX_FUTURE_S = 600.0


class Ingestor:
    """Verifies messages (one code path for every store) and hands the accepted ones to its
    store (``SqliteStore`` by default, ``PostgresStore`` with ``store=``); thread-safe through
    one lock."""

    def __init__(
        self,
        keys: Mapping[str, bytes],
        *,
        sqlite_path: Path | None = None,
        store: IngestStore | None = None,
        out: TextIO | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_age_s: float | None = DEFAULT_MAX_AGE_S,
        max_future_s: float = DEFAULT_MAX_FUTURE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys, self.out, self.max_bytes = keys, out, max_bytes
        self.max_age_s, self.max_future_s, self.clock = max_age_s, max_future_s, clock
        self.store: IngestStore = store if store is not None else SqliteStore(sqlite_path)
        self._lock = threading.Lock()
        self.counts = {"raw": 0, "new": 0, "duplicate": 0, "replay": 0, "rejected": 0}

    @property
    def db(self) -> Any:
        """The SQLite connection of the default store (tests and tools read it)."""
        return self.store.db  # type: ignore[attr-defined]

    def handle(self, topic: str, payload: bytes) -> str:
        """Process one payload; returns new | duplicate | replay | rejected | status.
        ``StoreUnavailable``: the database is down, nothing was stored; retry the payload."""
        with self._lock:
            if topic.endswith("/status"):
                return self._status_hint(topic, payload)
            verdict = self._handle(topic, payload)
            self.counts["raw"] += 1
            self.counts[verdict] += 1
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
        head = payload[:200].decode("utf-8", "replace")
        self.store.reject(received_s=time.time(), topic=topic, reason=reason,
                          payload_head=head, device_id=device, raw_bytes=len(payload))  # fmt: skip
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
        status = payload.decode("utf-8", "replace")[:32]
        self.store.status_hint(device, status, self.clock())
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

    def _site_file(self, envelope: dict[str, Any]) -> str | None:
        """The site of the device's ``<device_id>.site`` file in the keys folder (``Rejected``
        when the message names another); None: the store pins the first message's site."""
        sites = self.keys.sites if isinstance(self.keys, KeyRing) else {}
        expected = sites.get(envelope["device_id"])
        check_site(envelope["device_id"], envelope["site_id"], expected, SITE_FILE)
        return expected

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
            site_file = self._site_file(envelope)
            verdict = self.store.accept(topic, envelope, site_file=site_file,
                                        received_s=time.time())  # fmt: skip
        except VerificationError as exc:
            return self._reject(topic, payload, str(exc), getattr(exc, "device_id", None))
        if verdict == "replay":
            logger.warning("replay or reset counter: device %s seq %s arrived again as %s",
                           envelope["device_id"], envelope["seq"], envelope["msg_id"])  # fmt: skip
        elif verdict == "new" and self.out is not None:
            self.out.write(json.dumps(envelope, separators=(",", ":")) + "\n")
            self.out.flush()
        return verdict

    def messages(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Accepted envelopes in arrival order."""
        with self._lock:
            return self.store.messages(kind)

    def close(self) -> None:
        with self._lock:
            self.store.close()


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
        share_group: str | None = None,
        partition: tuple[int, int] | None = None,
        retry_max_s: float = 2.0,
    ) -> None:
        import paho.mqtt.client as mqtt

        if partition is not None and not 0 <= partition[0] < partition[1]:
            raise ValueError(f"partition {partition[0]}/{partition[1]}: need 0 <= I < N")
        self.partition = partition

        if share_group is not None:  # MQTT 5 shared subscription: one copy to one group member
            topic_filter = f"$share/{share_group}/{topic_filter}"
        self.ingestor, self.topic_filter, self.retry_max_s = ingestor, topic_filter, retry_max_s
        self._stopping = threading.Event()
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
        self.client.manual_ack_set(True)  # PUBACK only once the store committed
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._session_expiry_s = session_expiry_s

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            logger.error("ingest: %s:%s refused the connection: %s", self.host, self.port,
                         reason_code)  # fmt: skip
            return
        logger.info("ingest: connected to %s:%s (session present: %s)", self.host, self.port,
                    bool(flags.session_present))  # fmt: skip
        client.subscribe(self.topic_filter, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        failed = [c for c in reason_codes if c.is_failure]
        if failed:
            logger.error("ingest: %s:%s refused the subscription to %s: %s", self.host,
                         self.port, self.topic_filter, failed[0])  # fmt: skip
            return
        logger.info("ingest: subscribed to %s on %s:%s", self.topic_filter, self.host, self.port)
        self.subscribed.set()

    def _mine(self, topic: str) -> bool:
        """Whether this worker's partition owns the topic's device (carbonedge/site/device/kind)."""
        if self.partition is None:
            return True
        parts = topic.split("/")
        device = parts[-2] if len(parts) >= 4 else topic
        index, count = self.partition
        return zlib.crc32(device.encode("utf-8", "replace")) % count == index

    def _on_message(self, client, userdata, message) -> None:
        self.last_message_s = time.monotonic()
        delay_s = 0.05
        while self._mine(message.topic):
            try:
                self.ingestor.handle(message.topic, message.payload)
                break
            except StoreUnavailable as exc:  # not acked: retried here, or redelivered
                if self._stopping.is_set():
                    return
                logger.warning("ingest: store unavailable (%s); retrying in %.2f s", exc, delay_s)
                self._stopping.wait(delay_s)
                delay_s = min(delay_s * 2, self.retry_max_s)
            except Exception as exc:  # noqa: BLE001 - one bad message never stops the consumer
                logger.error("ingest: cannot handle a message on %s: %s: %s", message.topic,
                             type(exc).__name__, exc)  # fmt: skip
                break
        if message.qos > 0:
            client.ack(message.mid, message.qos)

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
        self._stopping.set()
        self.client.disconnect()
        self.client.loop_stop()

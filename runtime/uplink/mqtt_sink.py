"""MQTT 5 sink (paho-mqtt 2.x): QoS 1, persistent session, TLS, retained last will.

Topics: ``<prefix>/<site>/<device>/<kind>`` for messages and ``<prefix>/<site>/<device>/status``
(retained "online"/"offline"; the broker publishes "offline" as the last will when the box
vanishes).
paho keeps unacknowledged QoS 1 messages in memory and resends them after a reconnect; that memory
is lost with the process, which is why the outbox, not paho, is the source of truth: a row is
deleted only in ``on_publish`` (PUBACK), and a new process sends every row still there.
When the link goes down with messages in flight, nothing new is handed to paho until those are
acknowledged: paho re-sends them after the reconnect's CONNACK, and a message published before the
CONNACK (or while it re-sends) would overtake them, so the platform would see the sequence out
of order (found by the network-fault test: a blackhole longer than the keepalive).
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.uplink.config import MqttSinkConfig
from carbonedge.runtime.uplink.sink import Outcome, Outgoing, Sink

logger = logging.getLogger(__name__)

_RETRYABLE_PUBACK = {0x97}  # quota exceeded


def topic(prefix: str, site_id: str, device_id: str, kind: str) -> str:
    return f"{prefix}/{site_id}/{device_id}/{kind}"


def _read_secret(value: str | None, path: Path | None, what: str) -> str | None:
    if path is None:
        return value
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc.strerror})") from None


class MqttSink(Sink):
    """Publishes through one paho client whose network loop runs in its own thread."""

    def __init__(self, config: MqttSinkConfig, *, site_id: str, device_id: str) -> None:
        self.config, self.site_id, self.device_id = config, site_id, device_id
        self.status_topic = topic(config.topic_prefix, site_id, device_id, "status")
        self._acks: queue.Queue[tuple[int, int]] = queue.Queue()
        self._mid_to_row: dict[int, int] = {}
        self._connected = threading.Event()
        self._link_losses = 0  # disconnects seen by paho's thread
        self._losses_seen = 0  # ... and by the forwarder's (free_slots)
        self._resend_first: set[int] = set()  # mids in flight when the link went down
        self._refused_logged = False
        self._down_logged = False
        self.reconnects = 0
        self.client = self._make_client()

    @property
    def where(self) -> str:
        return f"mqtt {self.config.host}:{self.config.port}"

    def _make_client(self) -> mqtt.Client:
        cfg = self.config
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=cfg.client_id or self.device_id,
            protocol=mqtt.MQTTv5,
        )  # fmt: skip
        password = _read_secret(cfg.password, cfg.password_file, "the MQTT password")
        if cfg.username is not None or password is not None:
            client.username_pw_set(cfg.username, password)
        if cfg.tls is not None:
            try:
                client.tls_set(
                    ca_certs=str(cfg.tls.ca_file),
                    certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
                    keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
                    tls_version=ssl.PROTOCOL_TLS_CLIENT,
                )  # hostname verification stays on: never tls_insecure_set
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"uplink.sink.tls: cannot load certificates ({exc})") from None
        client.will_set(self.status_topic, b"offline", qos=1, retain=True)
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)  # capped doubling
        client.max_inflight_messages_set(cfg.max_inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_connect_fail = self._on_connect_fail
        return client

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.config.session_expiry_s
        self.client.connect_async(
            self.config.host, self.config.port, keepalive=self.config.keepalive_s,
            clean_start=False, properties=props,
        )  # fmt: skip
        self.client.loop_start()  # retries the first connection too, with the backoff above

    # paho callbacks (network thread): only queue and log, never touch the outbox here.
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            if not self._refused_logged:
                logger.error(
                    "%s refused the connection: %s (check uplink.sink username/password/"
                    "certificates); messages stay in the outbox and the box keeps retrying",
                    self.where, reason_code,
                )  # fmt: skip
                self._refused_logged = True
            return
        self._refused_logged = self._down_logged = False
        self._connected.set()
        logger.info("%s connected (session present: %s)", self.where, flags.session_present)
        client.publish(self.status_topic, b"online", qos=1, retain=True)

    def _on_connect_fail(self, client, userdata) -> None:
        if not self._down_logged:
            self._down_logged = True
            # the diagnosis connects once more (up to seconds): not on paho's network thread
            threading.Thread(target=self._log_no_connection, daemon=True,
                             name="mqtt-why-no-connection").start()  # fmt: skip

    def _log_no_connection(self) -> None:
        logger.warning(
            "cannot connect to %s (%s); messages stay in the outbox and the box keeps retrying",
            self.where, self._why_no_connection(),
        )  # fmt: skip

    def _why_no_connection(self, timeout_s: float = 3.0) -> str:
        """One try of TCP (and TLS) to the broker, to say which of them failed and why."""
        import socket

        cfg = self.config
        try:
            sock = socket.create_connection((cfg.host, cfg.port), timeout=timeout_s)
        except OSError as exc:
            return f"TCP: {exc.strerror or exc} (broker down or unreachable)"
        with sock:
            if cfg.tls is None:
                return "TCP connects; the broker closed or ignored the MQTT connection"
            try:
                context = ssl.create_default_context(cafile=str(cfg.tls.ca_file))
                if cfg.tls.cert_file:
                    key = str(cfg.tls.key_file) if cfg.tls.key_file else None
                    context.load_cert_chain(str(cfg.tls.cert_file), key)
                with context.wrap_socket(sock, server_hostname=cfg.host):
                    return "TLS handshake works; the broker closed the MQTT connection"
            except ssl.SSLCertVerificationError as exc:
                return (
                    f"TLS: the broker's certificate is not trusted: {exc.verify_message} "
                    f"(check uplink.sink.tls.ca_file and the broker's name {cfg.host!r})"
                )
            except (ssl.SSLError, OSError) as exc:
                return f"TLS handshake failed: {exc} (check uplink.sink.tls)"

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected = self._connected.is_set()
        self._connected.clear()
        self._link_losses += 1
        if was_connected:
            self.reconnects += 1
        if not self._down_logged:
            logger.warning("%s disconnected (%s); reconnecting with backoff", self.where,
                           reason_code)  # fmt: skip
            self._down_logged = True

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._acks.put((mid, reason_code.value))

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def free_slots(self) -> int:
        """The in-flight window left; 0 after a lost link until the messages that were in flight
        then are acknowledged (paho re-sends them first, in order)."""
        if self._losses_seen != self._link_losses:
            self._losses_seen = self._link_losses
            self._resend_first = set(self._mid_to_row)
        if self._resend_first:
            self._resend_first.intersection_update(self._mid_to_row)
            if self._resend_first:
                return 0
        return max(0, self.config.max_inflight - len(self._mid_to_row))

    def in_flight(self) -> int:
        return len(self._mid_to_row)

    def submit(self, message: Outgoing) -> None:
        t = topic(self.config.topic_prefix, self.site_id, self.device_id, message.topic_kind)
        info = self.client.publish(t, message.payload, qos=1)
        # NO_CONN is fine: paho keeps the message and sends it once connected.
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"{self.where}: publish failed: {mqtt.error_string(info.rc)}")
        self._mid_to_row[info.mid] = message.row_id

    def outcomes(self, timeout_s: float) -> list[Outcome]:
        out: list[Outcome] = []
        try:
            item = self._acks.get(timeout=timeout_s)
            while True:
                mid, code = item
                row_id = self._mid_to_row.pop(mid, None)
                if row_id is not None:  # None: the retained status message
                    if code < 0x80:
                        out.append(Outcome(row_id, "acked"))
                    elif code in _RETRYABLE_PUBACK:
                        out.append(Outcome(row_id, "retry", f"PUBACK reason 0x{code:02x}"))
                    else:
                        out.append(Outcome(row_id, "permanent", f"PUBACK reason 0x{code:02x}"))
                item = self._acks.get_nowait()
        except queue.Empty:
            pass
        return out

    def stop(self) -> None:
        """Say "offline" (retained) if connected, disconnect, stop the network thread."""
        if self.connected:
            info = self.client.publish(self.status_topic, b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

"""Rigs for the city-scale receiving side (issue 31): device keys, ``carbonedge ingest`` worker
processes, a QoS 1 publisher standing in for many boxes, bridged Mosquitto brokers.

Used by ``test_shared_subscription.py``, ``test_bridge.py``, ``test_platform_status.py`` and
``benchmarks/platform_load.py`` (which puts this folder on ``sys.path``, as ``chaos.py`` does).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from uplink_rigs import Broker, make_broker

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "runtime" / "examples"


def device_key(device: str) -> bytes:
    return f"{device}-platform-test-hmac-key".encode()


def write_keys(folder: Path, devices: list[str]) -> Path:
    """``<device>.key`` (mode 0600) for each device."""
    folder.mkdir(parents=True, exist_ok=True)
    for device in devices:
        path = folder / f"{device}.key"
        path.write_bytes(device_key(device))
        path.chmod(0o600)
    return folder


class IngestWorker:
    """One ``carbonedge -v ingest`` process (``--postgres``, a shared subscription)."""

    def __init__(self, name: str, *, port: int, keys: Path, dsn: str, group: str | None,
                 log_dir: Path, extra: list[str] | None = None) -> None:  # fmt: skip
        self.name, self.log = name, log_dir / f"{name}.log"
        self.args = [sys.executable, "-m", "carbonedge.runtime.cli", "-v", "ingest",
                     "--port", str(port), "--keys-dir", str(keys), "--postgres", dsn,
                     "--client-id", name, "--topic", "carbonedge/#", *(extra or [])]  # fmt: skip
        if group is not None:
            self.args += ["--share-group", group]
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0, *, until: str = "subscribed to") -> IngestWorker:
        """Start the process and wait for its log line ``until``: "subscribed to" on a first
        start; "connected to" on a restart (the broker sends the session's backlog before the
        SUBACK, which can come long after)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.args, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout_s
        while until not in self.log.read_text(errors="replace")[offset:]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not subscribe:\n{self.tail()}")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        """SIGKILL: no goodbye, unacknowledged messages stay with the broker."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


class Publisher:
    """A QoS 1 MQTT 5 client publishing boxes' signed messages; counts PUBACKs."""

    def __init__(self, port: int, client_id: str) -> None:
        import paho.mqtt.client as mqtt

        self.acked = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=mqtt.MQTTv5)  # fmt: skip
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(0.1, 1)
        self.client.connect("127.0.0.1", port, keepalive=30, clean_start=False)
        self.client.loop_start()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            self.acked += 1

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def site_broker(tmp: Path, central_port: int, *, site: str = "site-a") -> Broker:
    """A site broker (persistence on, loopback, a free port) whose bridge section is the one of
    ``runtime/examples/mosquitto-site-bridge.conf``, pointed at the central broker."""
    broker = make_broker(tmp)
    template = (EXAMPLES / "mosquitto-site-bridge.conf").read_text()
    bridge = template[template.index("connection ") :]
    bridge = bridge.replace("CENTRAL_HOST:1883", f"127.0.0.1:{central_port}")
    with broker.conf.open("a") as conf:
        conf.write(bridge.replace("SITE_ID", site))
    return broker


def central_broker(tmp: Path) -> Broker:
    """The central broker: ``make_broker`` plus the example's queue limits."""
    broker = make_broker(tmp)
    with broker.conf.open("a") as conf:
        conf.write("max_inflight_messages 100\nmax_queued_bytes 0\n")
    return broker


def pg_count(dsn: str, sql: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        return int(conn.execute(sql).fetchone()[0])


def wait_for(predicate, timeout_s: float, what: str, step_s: float = 0.2) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(step_s)

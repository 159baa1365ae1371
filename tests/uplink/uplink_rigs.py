"""Rigs for the uplink tests: a real Mosquitto on loopback, test certificates, configs, summaries.

Imported by ``conftest.py`` (fixtures) and by the test modules (helpers). Mosquitto runs from a
config file under ``tmp_path`` on a free port and is stopped by its pid.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rigs import free_port, require_executable, stop_process, wait_for_port

from carbonedge.runtime.base.events import IntervalSummary
from carbonedge.runtime.uplink.config import UplinkConfig

T0 = 1_767_254_400.0  # 2026-01-01T08:00:00Z
DEVICE = "box-17"
SITE = "main-st"
KEY = b"box-17-test-hmac-key-0123456789"


@dataclass
class Broker:
    """One Mosquitto process; ``stop``/``start`` keep the port, config and persistence file."""

    conf: Path
    port: int
    log: Path
    proc: subprocess.Popen | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Broker:
        exe = require_executable("mosquitto", "/usr/sbin", "/usr/local/sbin")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([exe, "-c", str(self.conf)], stdout=log, stderr=log)
        wait_for_port(self.port, 10.0, self.proc)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)  # SIGTERM: Mosquitto saves its persistence file
            self.proc = None


def make_broker(
    tmp: Path,
    *,
    persistence: bool = True,
    password_file: Path | None = None,
    tls: dict[str, Path] | None = None,
) -> Broker:
    """Write a Mosquitto config under ``tmp`` (listener on 127.0.0.1, a free port)."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    lines = [
        f"listener {port} 127.0.0.1",
        f"persistence {'true' if persistence else 'false'}",
        f"persistence_location {tmp}/",
        "autosave_interval 1",
        "max_queued_messages 100000",
        "log_type error",
        "log_type warning",
        "log_dest stderr",
    ]
    if os.geteuid() == 0:  # Mosquitto would switch to user "mosquitto", who cannot read tmp_path
        lines.append("user root")
    if password_file is not None:
        lines += ["allow_anonymous false", f"password_file {password_file}"]
    else:
        lines.append("allow_anonymous true")
    if tls is not None:
        lines += [f"cafile {tls['ca']}", f"certfile {tls['server_cert']}",
                  f"keyfile {tls['server_key']}", "require_certificate true",
                  "tls_version tlsv1.2"]  # fmt: skip
    conf = tmp / "mosquitto.conf"
    conf.write_text("\n".join(lines) + "\n")
    return Broker(conf, port, tmp / "mosquitto.log")


def make_password_file(tmp: Path, user: str, password: str) -> Path:
    exe = require_executable("mosquitto_passwd", "/usr/bin", "/usr/sbin")
    path = tmp / "passwd"
    subprocess.run([exe, "-b", "-c", str(path), user, password], check=True, capture_output=True)
    path.chmod(0o600)
    return path


def make_certs(tmp: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate (PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def build(cn, key, issuer_name, issuer_key, *, ca=False, san=None, usage=None):
        b = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(issuer_name)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(minutes=5))
             .not_valid_after(now + dt.timedelta(days=2))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                            critical=True))  # fmt: skip
        if ca:
            b = b.add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                              False), critical=True)  # fmt: skip
            b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                critical=False)  # fmt: skip
        else:
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_key.public_key()), critical=False)  # fmt: skip
        if san:
            b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
        if usage:
            b = b.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
        return b.sign(issuer_key, hashes.SHA256())

    def write(stem: str, cert, key) -> tuple[Path, Path]:
        c, k = tmp / f"{stem}.crt", tmp / f"{stem}.key"
        c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        k.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))  # fmt: skip
        return c, k

    tmp.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("carbonedge test CA", ca_key, name("carbonedge test CA"), ca_key, ca=True)
    server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = build("localhost", server_key, ca.subject, ca_key, san=san,
                   usage=[ExtendedKeyUsageOID.SERVER_AUTH])  # fmt: skip
    client = build(DEVICE, client_key, ca.subject, ca_key, usage=[ExtendedKeyUsageOID.CLIENT_AUTH])
    ca_path, _ = write("ca", ca, ca_key)
    server_cert, server_key_path = write("server", server, server_key)
    client_cert, client_key_path = write("client", client, client_key)
    return {"ca": ca_path, "server_cert": server_cert, "server_key": server_key_path,
            "client_cert": client_cert, "client_key": client_key_path}  # fmt: skip


def uplink_config(sink: dict[str, Any], **overrides: Any) -> UplinkConfig:
    """An uplink config with test-sized backoffs and the test key."""
    data: dict[str, Any] = {
        "site_id": SITE,
        "sink": sink,
        "signing": {"key": KEY.decode()},
        "health_interval_s": 0,
        "drain_rate_msg_s": 1000,
        "flush_timeout_s": 5,
        **overrides,
    }
    return UplinkConfig.model_validate(data)


def mqtt_sink(port: int, **kw: Any) -> dict[str, Any]:
    return {"type": "mqtt", "host": "127.0.0.1", "port": port, "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5, "keepalive_s": 5, **kw}  # fmt: skip


def summary(i: int, *, source: str = "cam", interval_s: float = 60.0, cars: int = 3
            ) -> IntervalSummary:  # fmt: skip
    """The i-th one-minute summary of a one-camera box with two lines."""
    counts = {
        "stop-line": {"in": {"car": cars, "bus": 1, "truck": 0, "motorcycle": 2},
                      "out": {"car": cars + 1, "bus": 0, "truck": 1, "motorcycle": 0}},
        "exit": {"in": {"car": 2, "bus": 0}, "out": {"car": 1, "bus": 1}},
    }  # fmt: skip
    start = T0 + i * interval_s
    return IntervalSummary(DEVICE, source, 0, start, start + interval_s, counts, 1500, "yolox")


def wait_until(predicate, timeout_s: float, what: str, step_s: float = 0.02) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


class AckBlackhole:
    """A TCP proxy on loopback to ``port``; with ``drop_replies`` set it forwards the client's
    bytes to the broker but discards the broker's replies, so PUBLISHes arrive and PUBACKs never
    do: the box is left with messages that are upstream but not acknowledged."""

    def __init__(self, port: int) -> None:
        import socket
        import threading

        self.target, self.drop_replies = port, False
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._sockets: list = []
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src, dst, is_reply: bool) -> None:
        try:
            while data := src.recv(65536):
                if not (is_reply and self.drop_replies):
                    dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        for s in self._sockets:
            try:
                s.shutdown(2)  # SHUT_RDWR: wakes the pumps, the broker sees the box vanish
                s.close()
            except OSError:
                pass


# Fixtures. They live here, not in a tests/uplink/conftest.py: a second module named ``conftest``
# on sys.path would shadow tests/conftest.py for ``from conftest import ...`` in other folders.
# Test modules import them (``from uplink_rigs import broker_fixture``) and ask for ``broker``.
@pytest.fixture(name="broker")
def broker_fixture(tmp_path: Path):
    """A plain Mosquitto on loopback with persistence (stopped and restartable by the test)."""
    b = make_broker(tmp_path / "broker").start()
    yield b
    b.stop()


@pytest.fixture(name="certs")
def certs_fixture(tmp_path: Path) -> dict[str, Path]:
    return make_certs(tmp_path / "certs")


@pytest.fixture(name="tls_broker")
def tls_broker_fixture(tmp_path: Path, certs: dict[str, Path]):
    b = make_broker(tmp_path / "tls-broker", tls=certs).start()
    yield b
    b.stop()

"""The health server under half-open requests (socket timeout, bounded threads) and its warning
when it listens beyond loopback."""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
import urllib.request

import pytest

from carbonedge.runtime.health_server import HealthServer
from carbonedge.runtime.http_limits import MAX_WORKERS, REQUEST_TIMEOUT_S, is_loopback
from carbonedge.runtime.metrics import Metrics


def _server_threads() -> int:
    return sum(t.name.startswith("Thread-") and "process_request" in t.name
               for t in threading.enumerate())  # fmt: skip


def test_half_open_requests_hold_a_bounded_number_of_threads_for_a_bounded_time() -> None:
    with HealthServer(Metrics(), lambda: {"status": "ok"}, port=0) as server:
        clients = []
        for _ in range(4 * MAX_WORKERS):
            c = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            clients.append(c)
        open_, most_threads = set(clients), 0
        deadline = time.monotonic() + 6 * REQUEST_TIMEOUT_S  # a bound, not a timing
        while open_ and time.monotonic() < deadline:
            most_threads = max(most_threads, _server_threads())
            readable, _, _ = select.select(list(open_), [], [], 0.5)
            for c in readable:  # the server gave up on it (timeout) or refused it (all busy)
                assert c.recv(1024) == b""
                open_.discard(c)
        assert not open_, f"{len(open_)} half-open requests still hold a server thread"
        assert most_threads <= MAX_WORKERS
        for c in clients:
            c.close()
        with urllib.request.urlopen(server.url + "/healthz", timeout=30) as r:
            assert r.status == 200


@pytest.mark.parametrize(("host", "warned"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_listening_beyond_loopback_is_warned(
    host: str, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="carbonedge.runtime.health_server"):
        with HealthServer(Metrics(), lambda: {"status": "ok"}, host=host, port=0):
            pass
    exposed = [r for r in caplog.records if "/metrics and /healthz are exposed" in r.message]
    assert bool(exposed) == warned
    assert is_loopback("localhost") and not is_loopback("0.0.0.0")

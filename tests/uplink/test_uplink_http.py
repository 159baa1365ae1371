"""HTTP sink against a local server (stdlib http.server in a thread) returning each status class."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from uplink_rigs import DEVICE, KEY, summary, uplink_config, wait_until

from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.forwarder import Forwarder
from carbonedge.runtime.uplink.http_sink import classify
from carbonedge.runtime.uplink.verify import SeenLedger, verify_message


class Platform:
    """A test endpoint: answers the scripted statuses in turn (then 200), verifies every 2xx."""

    def __init__(self, script: list[int]) -> None:
        self.script, self.received, self.attempts = list(script), [], []
        self.ledger, platform = SeenLedger(), self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                payload = self.rfile.read(int(self.headers["Content-Length"]))
                status = platform.script.pop(0) if platform.script else 200
                env = json.loads(payload)
                platform.attempts.append((env["seq"], status))
                if status == 200:
                    env = verify_message(payload, {DEVICE: KEY})
                    if platform.ledger.check(env) == "new":
                        platform.received.append(env)
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ingest"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def http_forwarder(db: Path, url: str) -> Forwarder:
    sink = {"type": "http", "url": url, "retry_min_s": 0.01, "retry_max_s": 0.05, "timeout_s": 2}
    return Forwarder(uplink_config(sink), device_id=DEVICE, sqlite_path=db).start()


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(200, "acked"), (201, "acked"), (204, "acked"), (408, "retry"), (425, "retry"),
     (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"), (504, "retry"),
     (400, "permanent"), (401, "permanent"), (403, "permanent"), (404, "permanent"),
     (413, "permanent"), (422, "permanent"), (301, "permanent")],
)  # fmt: skip
def test_status_classes(status: int, verdict: str) -> None:
    assert classify(status) == verdict


@pytest.mark.parametrize("status", [408, 425, 429, 500, 503])
def test_retryable_status_keeps_the_message_and_order(tmp_path: Path, status: int) -> None:
    platform = Platform([200, status, status, status])  # the 2nd message fails three times
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(4):
            store.write_summary(summary(i))
    fwd = http_forwarder(db, platform.url)
    try:
        wait_until(lambda: len(platform.received) == 4, 10, "4 messages at the platform")
    finally:
        stats = fwd.stop()
        platform.close()
    assert [e["seq"] for e in platform.received] == [1, 2, 3, 4]
    assert [a for a in platform.attempts if a[0] == 2] == [(2, status)] * 3 + [(2, 200)]
    assert stats["pending"] == 0 and stats["dead_letters"] == 0


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_permanent_4xx_goes_to_dead_letter_with_an_error_log(
    tmp_path: Path, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    platform = Platform([200, status])
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(3):
            store.write_summary(summary(i))
    with caplog.at_level(logging.ERROR):
        fwd = http_forwarder(db, platform.url)
        try:
            wait_until(lambda: len(platform.received) == 2, 10, "2 messages at the platform")
        finally:
            stats = fwd.stop()
            platform.close()
    assert [e["seq"] for e in platform.received] == [1, 3]
    assert stats["dead_letters"] == 1 and stats["pending"] == 0
    assert f"dead-letter table: HTTP {status}" in caplog.text
    import sqlite3

    row = sqlite3.connect(db).execute("SELECT seq, error, body FROM dead_letter").fetchone()
    assert row[0] == 2 and f"HTTP {status}" in row[1] and json.loads(row[2])["seq"] == 2


def test_server_down_then_up_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(3):
            store.write_summary(summary(i))
    dead_port_url = "http://127.0.0.1:9/ingest"  # discard port: connection refused
    fwd = http_forwarder(db, dead_port_url)
    time.sleep(0.3)
    stats = fwd.stop(flush_timeout_s=0)
    assert stats["pending"] == 3  # all kept
    platform = Platform([])
    fwd = http_forwarder(db, platform.url)
    try:
        wait_until(lambda: len(platform.received) == 3, 10, "3 messages after the outage")
    finally:
        fwd.stop()
        platform.close()
    assert [e["seq"] for e in platform.received] == [1, 2, 3]


def test_message_over_the_size_limit_is_dead_lettered(tmp_path: Path, caplog) -> None:
    platform = Platform([])
    db = tmp_path / "box.sqlite"
    big = {f"line-{i}": {"in": {f"class-{j}": j for j in range(60)}} for i in range(6)}
    with Store(db) as store:
        store.write_summary(summary(0))
        s = summary(1)
        store.write_summary(type(s)(**{**{k: getattr(s, k) for k in
                                          ("device_id", "source_id", "seq", "interval_start_s",
                                           "interval_end_s", "frames", "detector")},
                                       "counts": big}))  # fmt: skip
        store.write_summary(summary(2))
    sink = {"type": "http", "url": platform.url, "retry_min_s": 0.01, "retry_max_s": 0.05}
    with caplog.at_level(logging.ERROR):
        fwd = Forwarder(uplink_config(sink, max_message_bytes=4096), device_id=DEVICE,
                        sqlite_path=db).start()  # fmt: skip
        try:
            wait_until(lambda: len(platform.received) == 2, 10, "the two small messages")
        finally:
            stats = fwd.stop()
            platform.close()
    assert [e["seq"] for e in platform.received] == [1, 3]
    assert stats["dead_letters"] == 1
    assert "over uplink.max_message_bytes=4096" in caplog.text

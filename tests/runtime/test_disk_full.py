"""Disk full is visible: failed store writes counted, free space a gauge, the real backlog read,
/healthz 503 with the reason while writes fail, 200 again once they work (a real tmpfs)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from disk_rigs import fill, small_fs

from carbonedge.runtime.config import parse_site_config
from carbonedge.runtime.site import Site

WAIT_S = 120  # a bound for a condition to come true, not a timing


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)


def _metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _rows(db: Path, table: str) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


def test_disk_full_shows_in_metrics_and_healthz_and_recovers(tmp_path: Path) -> None:
    with small_fs(tmp_path / "mnt", "32m") as mnt:
        config = parse_site_config({
            "device_id": "box",
            "cameras": {"road": {"source": {"type": "synthetic", "duration_s": 3600}}},
            "detector": {"type": "motion"},
            "summary": {"interval_s": 5},
            "health": {"port": 0, "disk_min_free_mb": 0.5},
            # an uplink, so summaries are queued; its forwarder is not started: a real backlog
            "uplink": {"site_id": "s", "signing": {"key": "box-test-hmac-key-0123456789"},
                       "sink": {"type": "mqtt", "host": "127.0.0.1", "port": 1}},
            "output": {"sqlite_path": str(mnt / "s.sqlite"), "jsonl_path": None,
                       "shutdown_flush_s": 0, "spill_dir": str(tmp_path / "spill")},
        }, origin="test")  # fmt: skip
        site = Site(config)
        runner = threading.Thread(target=site.run, daemon=True)
        runner.start()
        try:
            _wait(lambda: site.server is not None and site.store is not None, "site started")
            url = site.server.url
            _wait(lambda: _rows(mnt / "s.sqlite", "summaries") >= 2, "summaries stored")
            assert _get(url + "/healthz")[0] == 200

            filler = fill(mnt)
            _wait(lambda: site.health()["store"]["writes"] == "failing", "a write failed")
            status, body = _get(url + "/healthz")
            report = json.loads(body)
            assert status == 503, report
            assert any(r.startswith("store: writes failing for ") and "disk is full" in r
                       for r in report["reasons"]), report["reasons"]  # fmt: skip
            assert any(re.fullmatch(r"disk: \d+\.\d MiB free", r) for r in report["reasons"])
            text = _get(url + "/metrics")[1]
            assert _metric(text, "carbonedge_store_write_failures_total",
                           '{kind="summary"}') >= 1  # fmt: skip
            assert _metric(text, "carbonedge_store_disk_free_bytes") < 0.5 * 2**20
            backlog = _rows(mnt / "s.sqlite", "outbox")
            assert backlog >= 2
            assert _metric(text, "carbonedge_uplink_backlog_messages") == backlog

            filler.unlink(missing_ok=True)
            _wait(lambda: site.health()["store"]["writes"] == "ok", "writes work again")
            status, body = _get(url + "/healthz")
            assert status == 200, body
            assert json.loads(body)["reasons"] == []
        finally:
            site.stop.set()
            runner.join(60)
        assert not runner.is_alive()

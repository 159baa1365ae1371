"""The box process killed with SIGKILL mid-send and restarted: nothing lost, nothing doubled
after de-duplication. Both a dedicated box process and the real ``carbonedge run``."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from uplink_rigs import (
    DEVICE,
    KEY,
    AckBlackhole,
    Broker,
    broker_fixture,  # noqa: F401 - fixtures
    wait_until,
)

from carbonedge.runtime.uplink.ingest import Ingestor, MqttIngest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def consumer(port: int, client_id: str, keys: dict) -> tuple[Ingestor, MqttIngest]:
    ingestor = Ingestor(keys)
    sub = MqttIngest(ingestor, host="127.0.0.1", port=port, client_id=client_id).start()
    assert sub.subscribed.wait(10)
    return ingestor, sub


def outbox_state(db: Path) -> tuple[int, int]:
    """(rows in the outbox, rows of them already handed to the sink)."""
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT COUNT(*), COUNT(sent_at) FROM outbox").fetchone()
    finally:
        con.close()


def stored_summary_ids(db: Path, device: str) -> list[str]:
    con = sqlite3.connect(db, timeout=30)
    try:
        rows = con.execute("SELECT id FROM summaries WHERE device_id = ? ORDER BY seq", (device,))
        return [r[0] for r in rows]
    finally:
        con.close()


def check_delivery(ingestor: Ingestor, db: Path, device: str) -> tuple[int, int]:
    """Every stored summary arrived once after dedup, first arrivals in sequence order."""
    got = ingestor.messages("interval_summary")
    stored = stored_summary_ids(db, device)
    assert [e["body"]["id"] for e in got] == stored  # none lost, none extra, in order
    seqs = [e["seq"] for e in ingestor.messages()]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    return len(stored), ingestor.counts["duplicate"]


def test_box_killed_mid_send_and_restarted_loses_nothing(tmp_path: Path, broker: Broker) -> None:
    """Killed while messages are upstream but their PUBACKs are not back (the worst window)."""
    ingestor, sub = consumer(broker.port, "platform-kill", {DEVICE: KEY})
    proxy = AckBlackhole(broker.port)
    db, n = tmp_path / "box.sqlite", 80
    args = [sys.executable, str(HERE / "box_process.py"), str(db), "{port}", str(n), "0.005", "40"]
    log = (tmp_path / "box.log").open("w")
    box = subprocess.Popen([a.format(port=proxy.port) for a in args], stdout=log,
                           stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_until(lambda: ingestor.counts["new"] >= 20, 20, "traffic through the proxy")
        proxy.drop_replies = True  # PUBLISHes still reach the broker, PUBACKs vanish
        blackholed_at = ingestor.counts["new"]
        wait_until(lambda: ingestor.counts["new"] >= blackholed_at + 15, 10, "unacked deliveries")
        box.send_signal(signal.SIGKILL)
        box.wait(10)
        pending_at_kill, in_flight_at_kill = outbox_state(db)
        received_at_kill = ingestor.counts["new"]
        proxy.close()
        box = subprocess.Popen([a.format(port=broker.port) for a in args], stdout=log,
                               stderr=subprocess.STDOUT)  # fmt: skip
        assert box.wait(60) == 0, (tmp_path / "box.log").read_text()
        wait_until(lambda: ingestor.counts["new"] >= n, 10, f"all {n} summaries")
    finally:
        if box.poll() is None:
            box.kill()
            box.wait()
        sub.stop()
    sent, raw_dups = check_delivery(ingestor, db, DEVICE)
    print(f"\nSIGKILL mid-send (dedicated box process, PUBACKs black-holed): {received_at_kill} "
          f"received before the kill, {pending_at_kill} left in the outbox, {in_flight_at_kill} of "
          f"them published without PUBACK; after restart sent {sent}, lost 0, raw duplicates "
          f"{raw_dups}, 0 after dedup")  # fmt: skip
    assert in_flight_at_kill >= 10 and raw_dups >= 10  # the resend really happened
    assert outbox_state(db) == (0, 0)


@pytest.mark.slow
def test_carbonedge_run_killed_and_restarted_loses_nothing(tmp_path: Path, broker: Broker) -> None:
    """The real box: ``carbonedge run`` on the synthetic scene with an MQTT uplink."""
    device = "demo-synthetic"
    key = b"synthetic-box-hmac-key-0123456789"
    (tmp_path / "box.key").write_bytes(key + b"\n")
    (tmp_path / "box.key").chmod(0o600)
    db = tmp_path / "out" / "synthetic.sqlite"
    config = tmp_path / "site.yaml"
    config.write_text(f"""device_id: {device}
detector: {{type: motion}}
cameras:
  road:
    source: {{type: synthetic, duration_s: 60, seed: 7}}
    lines:
      - {{id: main, start_px: [0, 216], end_px: [640, 216]}}
summary: {{interval_s: 1}}
output: {{sqlite_path: {db}, jsonl_path: null}}
uplink:
  site_id: test-site
  drain_rate_msg_s: 2
  health_interval_s: 0
  flush_timeout_s: 60
  signing: {{key_file: {tmp_path / "box.key"}}}
  sink: {{type: mqtt, host: 127.0.0.1, port: {broker.port}, reconnect_min_s: 0.1,
          reconnect_max_s: 0.5, keepalive_s: 5}}
""")
    ingestor, sub = consumer(broker.port, "platform-run", {device: key})
    cmd = [sys.executable, "-m", "carbonedge.runtime.cli", "run", str(config)]
    log = (tmp_path / "run.log").open("w")
    box = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_until(lambda: ingestor.counts["new"] >= 4, 60, "carbonedge run to be mid-send")
        box.send_signal(signal.SIGKILL)
        box.wait(10)
        pending_at_kill, in_flight_at_kill = outbox_state(db)
        stored_at_kill = len(stored_summary_ids(db, device))
        received_at_kill = ingestor.counts["new"]
        wait_until(lambda: ingestor.db.execute("SELECT status FROM status_hints").fetchone()
                   == ("offline",), 10, "the broker's last will")  # fmt: skip
        # the same box restarted, draining its backlog faster (a slow drain made the kill land
        # mid-send whatever the machine's speed)
        config.write_text(config.read_text().replace("drain_rate_msg_s: 2", "drain_rate_msg_s: 50"))
        t0 = time.monotonic()
        box = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        assert box.wait(120) == 0, (tmp_path / "run.log").read_text()
        rerun_s = time.monotonic() - t0
    finally:
        if box.poll() is None:
            box.kill()
            box.wait()
        sub.stop()
    sent, raw_dups = check_delivery(ingestor, db, device)
    print(f"\nSIGKILL mid-send (carbonedge run, synthetic, 1 s summaries): {stored_at_kill} stored "
          f"and {received_at_kill} received at the kill, {pending_at_kill} in the outbox "
          f"({in_flight_at_kill} in flight); after the restart ({rerun_s:.1f} s) sent {sent}, "
          f"lost 0, raw duplicates {raw_dups}, 0 after dedup")  # fmt: skip
    assert pending_at_kill > 0 and sent >= 60 and outbox_state(db) == (0, 0)

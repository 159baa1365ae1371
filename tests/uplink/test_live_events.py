"""Crossings published live on MQTT (issue 29, Frigate-style events), against a real Mosquitto.

``carbonedge run`` on the synthetic scene with an MQTT uplink; a subscriber on the broker sees
one QoS 0 message per crossing on ``carbonedge/<site>/<device>/events/crossing`` when
``uplink.live_events`` is on, and none when it is off (the default).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
from uplink_rigs import DEVICE, KEY, SITE, Broker, broker_fixture, wait_until  # noqa: F401

from carbonedge.runtime.uplink.live_events import crossing_message

TOPIC = f"carbonedge/{SITE}/{DEVICE}/events/crossing"
FRAMES = 300  # 20 s of the synthetic scene: a handful of crossings


def _site(tmp_path: Path, port: int, live_events: bool | None, sink: str = "mqtt") -> Path:
    flag = "" if live_events is None else f"\n  live_events: {str(live_events).lower()}"
    sink_yaml = (f"{{type: mqtt, host: 127.0.0.1, port: {port}, reconnect_min_s: 0.1, "
                 "reconnect_max_s: 0.5}" if sink == "mqtt"
                 else f"{{type: http, url: 'http://127.0.0.1:{port}/ingest'}}")  # fmt: skip
    path = tmp_path / "site.yaml"
    path.write_text(f"""device_id: {DEVICE}
detector: {{type: motion}}
cameras:
  road:
    source: {{type: synthetic, duration_s: 60, seed: 7}}
    lines:
      - {{id: main, start_px: [0, 216], end_px: [640, 216]}}
summary: {{interval_s: 10}}
health: {{enabled: false}}
output: {{sqlite_path: {tmp_path / "store.sqlite"}, jsonl_path: null}}
uplink:
  site_id: {SITE}
  sink: {sink_yaml}
  signing: {{key: {KEY.decode()}}}
  health_interval_s: 0
  flush_timeout_s: 5{flag}
""")
    return path


class Subscriber:
    """A paho client collecting every message under the site's topics."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="live-test-sub")
        self.client.on_connect = lambda c, *a: c.subscribe(f"carbonedge/{SITE}/#", qos=0)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.subscribed.wait(10), "could not subscribe"

    def on(self, topic: str) -> list[bytes]:
        return [p for t, p in self.messages if t == topic]

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _run(site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", "run", str(site), "--max-frames",
         str(FRAMES)], capture_output=True, text=True, timeout=600, env={**os.environ},
    )  # fmt: skip


def _crossings(stdout: str) -> int:
    return int(re.search(r"road: \d+ frames .*?, (\d+) crossings", stdout).group(1))


def test_each_crossing_is_one_small_qos0_message(tmp_path: Path, broker: Broker) -> None:
    sub = Subscriber(broker.port)
    try:
        proc = _run(_site(tmp_path, broker.port, True))
        assert proc.returncode == 0, proc.stderr
        crossings = _crossings(proc.stdout)
        assert crossings > 0
        wait_until(lambda: len(sub.on(TOPIC)) >= crossings, 10, "the live crossings")
        wait_until(lambda: sub.on(f"carbonedge/{SITE}/{DEVICE}/interval_summary"), 10,
                   "the signed summaries, which still go out")  # fmt: skip
    finally:
        sub.stop()
    bodies = [json.loads(p) for p in sub.on(TOPIC)]
    assert len(bodies) == crossings  # one per crossing, no more
    assert len({b["id"] for b in bodies}) == crossings
    for b in bodies:
        assert set(b) == {"kind", "v", "id", "site_id", "device_id", "source_id", "line_id",
                          "direction", "class_name", "track_id", "frame_index", "t_wall",
                          "speed_kmh"}  # fmt: skip
        assert (b["kind"], b["site_id"], b["device_id"], b["source_id"], b["line_id"]) == (
            "crossing",
            SITE,
            DEVICE,
            "road",
            "main",
        )
        assert b["direction"] in ("in", "out") and b["t_wall"].endswith("Z")
        assert 0 <= b["frame_index"] < FRAMES
    assert max(len(p) for p in sub.on(TOPIC)) < 400  # small, unsigned: not an envelope
    summaries = [json.loads(p) for p in sub.on(f"carbonedge/{SITE}/{DEVICE}/interval_summary")]
    assert summaries and all("sig" in s and "seq" in s for s in summaries)  # signed, sequenced
    assert all("sig" not in b and "seq" not in b for b in bodies)


def test_off_by_default(tmp_path: Path, broker: Broker) -> None:
    sub = Subscriber(broker.port)
    try:
        proc = _run(_site(tmp_path, broker.port, None))
        assert proc.returncode == 0, proc.stderr
        assert _crossings(proc.stdout) > 0
        wait_until(lambda: sub.on(f"carbonedge/{SITE}/{DEVICE}/interval_summary"), 10,
                   "the summaries")  # fmt: skip
    finally:
        sub.stop()
    assert sub.on(TOPIC) == []


def test_live_events_need_an_mqtt_sink(tmp_path: Path) -> None:
    proc = _run(_site(tmp_path, 9, True, sink="http"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("carbonedge: error: uplink.live_events: needs an mqtt sink "
                                   "(this one is http); set it to false")  # fmt: skip


def test_the_message_of_one_crossing() -> None:
    from carbonedge.runtime.base.events import LineCrossed

    ev = LineCrossed("box", "cam", "north", 12, "in", "car", 3456, 1_767_254_401.25, 41.234)
    assert crossing_message(ev, "main-st") == {
        "kind": "crossing", "v": 1, "id": ev.id, "site_id": "main-st", "device_id": "box",
        "source_id": "cam", "line_id": "north", "direction": "in", "class_name": "car",
        "track_id": 12, "frame_index": 3456, "t_wall": "2026-01-01T08:00:01.250Z",
        "speed_kmh": 41.2,
    }  # fmt: skip

"""Network faults between a running box and a real Mosquitto: ``carbonedge run`` (a clip played
in real time, one summary a second) publishes through ``FaultProxy``, which the test turns slow
(delay and throttle: still delivering, so /healthz stays 200), crawling (each chunk held longer
than ``uplink.stalled_after_s``) and blackholed (accepts, answers nothing, no RST). /healthz must
say 503 with the uplink reason within the configured window, long before the MQTT keepalive
would notice, and be 200 again once the link is back; after the run everything the box stored
arrives once after de-duplication, in sequence order. A blackhole longer than the keepalive makes
the client reconnect into it: the order must survive that too."""

from __future__ import annotations

import time
from pathlib import Path

from chaos_rigs import (
    Box,
    Ingest,
    check_delivered,
    healthz,
    site_yaml,
    stored_summaries,
    uplink_reasons,
    wait_for,
    write_clip,
    write_keys,
)
from fault_proxy import FaultProxy
from rigs import free_port
from uplink_rigs import Broker, broker_fixture  # noqa: F401 - the fixture

STALLED_AFTER_S = 3.0  # uplink.stalled_after_s
KEEPALIVE_S = 60  # the MQTT keepalive: a dead link noticed by MQTT only after 60-90 s
WAIT_S = 60  # a bound for a condition to come true, not a timing


def _received(ingest: Ingest) -> int:
    return len(ingest.summaries())


def _first_stall_s(port: int, limit_s: float) -> tuple[float, str]:
    """Seconds until /healthz is 503 with an uplink reason, and that reason."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        code, body = healthz(port)
        if code == 503 and uplink_reasons(body):
            return time.monotonic() - t0, uplink_reasons(body)[0]
        time.sleep(0.1)
    raise AssertionError(f"/healthz did not report the uplink stall within {limit_s} s")


def _phase(ingest: Ingest, port: int, seconds: float) -> tuple[int, set]:
    """(summaries received, /healthz status codes seen) over ``seconds``."""
    before, codes = _received(ingest), set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        codes.add(healthz(port)[0])
        time.sleep(0.2)
    return _received(ingest) - before, codes


def test_blackholed_and_slow_links_show_in_healthz_and_lose_nothing(
    tmp_path: Path, broker: Broker
) -> None:
    key_file, keys = write_keys(tmp_path)
    proxy, port = FaultProxy(broker.port), free_port()
    store = tmp_path / "out" / "box.sqlite"
    clip = write_clip(tmp_path / "road.avi", seconds=90)
    source = {"type": "video_file", "path": str(clip), "realtime": True}
    config = site_yaml(tmp_path / "site.yaml", source=source, store=store, jsonl=None,
                       broker_port=proxy.port, key_file=key_file, health_port=port,
                       stalled_after_s=STALLED_AFTER_S, keepalive_s=KEEPALIVE_S)  # fmt: skip
    log = tmp_path / "box.log"
    ingest = Ingest(broker.port, keys, tmp_path / "platform.sqlite", tmp_path / "ingest.log")
    ingest.start()
    box = Box(config, log).start()
    figures: dict[str, object] = {}
    try:
        wait_for(lambda: _received(ingest) >= 3 and healthz(port)[0] == 200, WAIT_S,
                 "summaries delivered and /healthz 200")  # fmt: skip
        # slow but moving: 0.2 s per chunk, 4 KB/s each way; delivering, so no alarm
        proxy.set("slow", delay_s=0.2, rate_bps=4000)
        figures["slow"] = delivered, codes = _phase(ingest, port, 6.0)
        assert delivered >= 2 and codes == {200}, figures
        # crawling: each chunk held 8 s, longer than the window: a stall, though bytes move
        proxy.set("slow", delay_s=8.0)
        figures["crawl_detect_s"], reason = _first_stall_s(port, KEEPALIVE_S / 2)
        assert figures["crawl_detect_s"] <= STALLED_AFTER_S + 4, figures
        assert reason.startswith("uplink: nothing delivered for "), reason
        proxy.set("pass")
        wait_for(lambda: healthz(port)[0] == 200, WAIT_S, "/healthz 200 after the crawl")
        # blackhole: nothing in or out, no RST
        proxy.set("blackhole")
        figures["blackhole_detect_s"], reason = _first_stall_s(port, KEEPALIVE_S / 2)
        assert figures["blackhole_detect_s"] <= STALLED_AFTER_S + 4, figures
        assert reason.startswith("uplink: nothing delivered for ") and "waiting" in reason
        time.sleep(2.0)  # the backlog grows behind the blackhole
        proxy.set("pass")
        t0 = time.monotonic()
        wait_for(lambda: healthz(port)[0] == 200, WAIT_S, "/healthz 200 after the blackhole")
        figures["recovered_s"] = round(time.monotonic() - t0, 1)
        assert box.stop(WAIT_S) == 0, log.read_text()[-3000:]  # SIGTERM: flush and drain
        stored = stored_summaries(store)
        wait_for(lambda: _received(ingest) >= len(stored), WAIT_S, "every summary upstream")
    finally:
        if box.running():
            box.kill()
        ingest.stop()
        proxy.close()
    result = check_delivered(ingest, stored)
    print(f"\nnetwork faults (stalled_after_s {STALLED_AFTER_S}, keepalive {KEEPALIVE_S} s): "
          + ", ".join(f"{k} {v}" for k, v in {**figures, **result}.items()))  # fmt: skip
    assert result["lost"] == result["duplicated"] == result["unknown"] == 0, result
    assert result["replays"] == result["rejected"] == result["out_of_order"] == 0, result
    assert result["stored"] >= 15


def test_a_blackhole_longer_than_the_keepalive_reconnects_and_keeps_the_order(
    tmp_path: Path, broker: Broker
) -> None:
    """The client gives up on the silent connection (keepalive 5 s) and reconnects into the
    blackhole; summaries made meanwhile must not overtake the ones paho re-sends after the
    CONNACK (they did: the platform saw seq n+14 before n+2)."""
    key_file, keys = write_keys(tmp_path)
    proxy, port = FaultProxy(broker.port), free_port()
    store = tmp_path / "out" / "box.sqlite"
    clip = write_clip(tmp_path / "road.avi", seconds=90)
    source = {"type": "video_file", "path": str(clip), "realtime": True}
    config = site_yaml(tmp_path / "site.yaml", source=source, store=store, jsonl=None,
                       broker_port=proxy.port, key_file=key_file, health_port=port,
                       stalled_after_s=STALLED_AFTER_S, keepalive_s=5)  # fmt: skip
    log = tmp_path / "box.log"
    ingest = Ingest(broker.port, keys, tmp_path / "platform.sqlite", tmp_path / "ingest.log")
    ingest.start()
    box = Box(config, log).start()
    try:
        wait_for(lambda: _received(ingest) >= 2 and healthz(port)[0] == 200, WAIT_S,
                 "summaries delivered and /healthz 200")  # fmt: skip
        proxy.set("blackhole")
        wait_for(lambda: " disconnected (" in log.read_text(), WAIT_S, "the keepalive to fire")
        time.sleep(4.0)  # reconnected into the blackhole; new summaries published meanwhile
        proxy.set("pass")
        wait_for(lambda: healthz(port)[0] == 200, WAIT_S, "/healthz 200 after the blackhole")
        assert box.stop(WAIT_S) == 0, log.read_text()[-3000:]
        stored = stored_summaries(store)
        wait_for(lambda: _received(ingest) >= len(stored), WAIT_S, "every summary upstream")
    finally:
        if box.running():
            box.kill()
        ingest.stop()
        proxy.close()
    result = check_delivered(ingest, stored)
    print("\nblackhole past the keepalive: " + ", ".join(f"{k} {v}" for k, v in result.items()))
    assert result["lost"] == result["duplicated"] == result["unknown"] == 0, result
    assert result["replays"] == result["rejected"] == result["out_of_order"] == 0, result

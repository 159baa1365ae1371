"""/healthz reflects the uplink: a broker that takes messages but never acknowledges them (a real
Mosquitto behind a proxy that drops its replies) makes the uplink "not delivering" with a reason
after ``uplink.stalled_after_s``; a working broker keeps it delivering."""

from __future__ import annotations

from pathlib import Path

from uplink_rigs import (  # noqa: F401 - the fixture
    DEVICE,
    KEY,
    AckBlackhole,
    broker_fixture,
    mqtt_sink,
    summary,
    uplink_config,
    wait_until,
)

from carbonedge.runtime.site_faults import uplink_faults
from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.forwarder import Forwarder
from carbonedge.runtime.uplink.ingest import Ingestor, MqttIngest

WAIT_S = 60  # a bound for a condition to come true, not a timing


def test_a_broker_that_never_acknowledges_degrades_health_with_the_reason(
    tmp_path: Path, broker
) -> None:
    proxy = AckBlackhole(broker.port)
    proxy.drop_replies = True
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        for i in range(3):
            store.write_summary(summary(i))
    config = uplink_config(mqtt_sink(proxy.port), stalled_after_s=1.0, flush_timeout_s=0)
    forwarder = Forwarder(config, device_id=DEVICE, sqlite_path=db).start()
    try:
        wait_until(lambda: forwarder.submitted >= 3, WAIT_S, "messages handed to the broker")
        wait_until(lambda: not forwarder.health()["delivering"], WAIT_S, "the stall noticed")
        report, reasons = uplink_faults(forwarder.health)
        assert report["backlog"] == 3 and report["last_delivery_age_s"] is None
        assert len(reasons) == 1 and reasons[0].startswith("uplink: nothing delivered for ")
        assert reasons[0].endswith(" s, 3 messages waiting")
    finally:
        forwarder.stop(flush_timeout_s=0)
        proxy.close()


def test_a_working_broker_keeps_the_uplink_delivering(tmp_path: Path, broker) -> None:
    db = tmp_path / "s.sqlite"
    with Store(db) as store:
        store.write_summary(summary(0))
    config = uplink_config(mqtt_sink(broker.port), stalled_after_s=1.0)
    forwarder = Forwarder(config, device_id=DEVICE, sqlite_path=db).start()
    try:
        wait_until(lambda: forwarder.acked >= 1, WAIT_S, "the summary acknowledged")
        report, reasons = uplink_faults(forwarder.health)
        assert report["delivering"] and report["backlog"] == 0 and reasons == []
        assert report["last_delivery_age_s"] is not None
    finally:
        forwarder.stop()


def test_a_health_message_carries_what_v1_knows_and_is_never_dead_lettered(
    tmp_path: Path, broker
) -> None:
    """``/healthz`` of a default camera shows more than ``device_health`` v1 has fields for (the
    detector's crop, the car scale, a file cut short): the message leaves those out. Before,
    one such key dead-lettered every health message of the box."""
    ingestor = Ingestor({DEVICE: KEY})
    sub = MqttIngest(ingestor, host="127.0.0.1", port=broker.port, client_id="platform-h").start()
    assert sub.subscribed.wait(10), "the consumer could not subscribe"
    camera = {"state": "running", "frames": 10, "detector_calls": 5,
              "roi": {"box": None, "state": "learning", "vehicles_seen": 3, "vehicles_needed": 20},
              "vehicle_scale": {"state": "learned", "car_height_px": {"l": [20.0, 22.0]}},
              "ended_early": {"frame": 9, "expected": 100}}  # fmt: skip
    db = tmp_path / "s.sqlite"
    Store(db).close()
    forwarder = Forwarder(uplink_config(mqtt_sink(broker.port)), device_id=DEVICE, sqlite_path=db)
    sensors = {"pm": {"state": "streaming", "x": 1}}
    forwarder.health_provider = lambda: {"status": "ok", "sources": {"cam": dict(camera)},
                                         "sensors": sensors}  # fmt: skip
    forwarder.start()
    try:
        forwarder.enqueue_health()
        wait_until(lambda: ingestor.messages("device_health"), WAIT_S, "the health message")
        body = ingestor.messages("device_health")[0]["body"]
        assert body["sources"] == {"cam": {"state": "running", "frames": 10, "detector_calls": 5}}
        assert body["sensors"] == {"pm": {"state": "streaming"}}
        assert forwarder.outbox.stats()["dead_letters"] == 0
    finally:
        forwarder.stop(flush_timeout_s=0)
        sub.stop()

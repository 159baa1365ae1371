"""/healthz reflects the uplink: a broker that takes messages but never acknowledges them (a real
Mosquitto behind a proxy that drops its replies) makes the uplink "not delivering" with a reason
after ``uplink.stalled_after_s``; a working broker keeps it delivering."""

from __future__ import annotations

from pathlib import Path

from uplink_rigs import (  # noqa: F401 - the fixture
    DEVICE,
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

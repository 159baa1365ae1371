"""MQTT end to end against a real Mosquitto on loopback: publish, outage, TLS, auth, drain rate.

The platform side is the reference consumer (``MqttIngest`` + ``Ingestor``): it verifies every
message, de-duplicates by msg_id and records arrival order. "Raw duplicates" are copies the broker
delivered more than once (QoS 1 is at least once); after de-duplication there must be none.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from uplink_rigs import (  # noqa: F401 - fixtures
    DEVICE,
    KEY,
    Broker,
    broker_fixture,
    certs_fixture,
    make_broker,
    make_password_file,
    mqtt_sink,
    summary,
    tls_broker_fixture,
    uplink_config,
    wait_until,
)

from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.forwarder import Forwarder
from carbonedge.runtime.uplink.ingest import Ingestor, MqttIngest


def consumer(port: int, **kw) -> tuple[Ingestor, MqttIngest]:
    ingestor = Ingestor({DEVICE: KEY})
    mqtt = MqttIngest(ingestor, host="127.0.0.1", port=port, **kw).start()
    assert mqtt.subscribed.wait(10), "the consumer could not subscribe"
    return ingestor, mqtt


def pending(db: Path) -> int:
    """Rows in the outbox, read through a connection of the test's own."""
    con = sqlite3.connect(db, timeout=30)
    try:
        return int(con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        con.close()


def summary_seqs(ingestor: Ingestor) -> list[int]:
    return [e["seq"] for e in ingestor.messages("interval_summary")]


def test_publish_verify_ingest_and_status(tmp_path: Path, broker: Broker) -> None:
    ingestor, sub = consumer(broker.port)
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        ids = [store.write_summary(summary(i)).id for i in range(5)]
    fwd = Forwarder(uplink_config(mqtt_sink(broker.port), health_interval_s=60), device_id=DEVICE,
                    sqlite_path=db).start()  # fmt: skip
    try:
        wait_until(lambda: ingestor.counts["new"] >= 6, 10, "5 summaries and 1 health message")
        status = ingestor.db.execute("SELECT status FROM status_hints").fetchone()
        assert status == ("online",)
    finally:
        stats = fwd.stop()
        wait_until(lambda: ingestor.db.execute("SELECT status FROM status_hints").fetchone()
                   == ("offline",), 5, "the retained offline status")  # fmt: skip
        sub.stop()
    got = ingestor.messages("interval_summary")
    assert [e["body"]["id"] for e in got] == ids and [e["seq"] for e in got] == [1, 2, 3, 4, 5]
    health = ingestor.messages("device_health")[0]
    assert health["body"]["outbox"]["pending"] >= 5 and health["seq"] == 6
    assert stats["pending"] == 0 and ingestor.counts["rejected"] == 0


def test_broker_outage_summaries_accumulate_then_arrive_in_order(
    tmp_path: Path, broker: Broker
) -> None:
    ingestor, sub = consumer(broker.port, client_id="platform-outage")
    db = tmp_path / "box.sqlite"
    store = Store(db)
    fwd = Forwarder(uplink_config(mqtt_sink(broker.port), drain_rate_msg_s=200), device_id=DEVICE,
                    sqlite_path=db).start()  # fmt: skip
    n, down_at, up_at = 120, 30, 90
    try:
        for i in range(n):
            if i == down_at:
                wait_until(lambda: ingestor.counts["new"] >= 20, 10, "traffic before the outage")
                broker.stop()
                t_down = time.monotonic()
            if i == up_at:
                backlog = pending(db)
                broker.start()
                t_up = time.monotonic()
            store.write_summary(summary(i))
            time.sleep(0.01)
        wait_until(lambda: ingestor.counts["new"] >= n, 30, f"all {n} summaries")
        reconnects = fwd.sink.reconnects
        t_drained = time.monotonic()
    finally:
        stats = fwd.stop()
        store.close()
        sub.stop()
    seqs = summary_seqs(ingestor)
    raw_dups = ingestor.counts["duplicate"]
    print(f"\nbroker outage {t_up - t_down:.2f} s: sent {n}, outbox backlog at restart {backlog}, "
          f"received {len(seqs)} unique, lost {n - len(set(seqs))}, raw duplicates {raw_dups} "
          f"(0 after dedup), backlog drained {t_drained - t_up:.2f} s after the restart, "
          f"reconnects {reconnects}")  # fmt: skip
    assert seqs == list(range(1, n + 1))  # everything, in order, once
    assert backlog >= up_at - down_at - 20  # it really accumulated on the box
    assert stats["pending"] == 0 and ingestor.counts["rejected"] == 0


def test_drain_rate_is_bounded_by_config(tmp_path: Path, broker: Broker) -> None:
    ingestor, sub = consumer(broker.port, client_id="platform-drain")
    db = tmp_path / "box.sqlite"
    n, rates = 150, {}
    for batch, rate in enumerate((100.0, 100_000.0)):
        with Store(db) as store:  # a backlog of n summaries, as after an outage
            for i in range(batch * n, (batch + 1) * n):
                store.write_summary(summary(i))
        start_count = ingestor.counts["new"]
        fwd = Forwarder(uplink_config(mqtt_sink(broker.port), drain_rate_msg_s=rate),
                        device_id=DEVICE, sqlite_path=db).start()  # fmt: skip
        t0 = time.monotonic()
        wait_until(lambda s=start_count: ingestor.counts["new"] >= s + n, 20, "the backlog")
        rates[rate] = n / (time.monotonic() - t0)
        fwd.stop()
    sub.stop()
    print(f"\ndrain of a {n}-message backlog: configured 100 msg/s -> measured {rates[100.0]:.0f} "
          f"msg/s; unlimited -> {rates[100_000.0]:.0f} msg/s (loopback Mosquitto, QoS 1, "
          "synchronous=FULL outbox)")  # fmt: skip
    assert rates[100.0] < 125  # the limiter holds (generous: the burst allowance is 10 messages)
    assert summary_seqs(ingestor) == list(range(1, 2 * n + 1))


def test_tls_with_client_certificates(tmp_path: Path, tls_broker: Broker, certs) -> None:
    tls = {"ca_file": certs["ca"], "cert_file": certs["client_cert"],
           "key_file": certs["client_key"]}  # fmt: skip
    ingestor, sub = consumer(tls_broker.port, ca_file=certs["ca"], cert_file=certs["client_cert"],
                             key_file=certs["client_key"], client_id="platform-tls")  # fmt: skip
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(3):
            store.write_summary(summary(i))
    fwd = Forwarder(uplink_config(mqtt_sink(tls_broker.port, tls=tls)), device_id=DEVICE,
                    sqlite_path=db).start()  # fmt: skip
    try:
        wait_until(lambda: ingestor.counts["new"] >= 3, 10, "3 summaries over TLS")
    finally:
        fwd.stop()
        sub.stop()
    assert summary_seqs(ingestor) == [1, 2, 3]


def test_tls_refuses_an_untrusted_broker_and_keeps_the_data(
    tmp_path: Path, tls_broker: Broker, certs, caplog: pytest.LogCaptureFixture
) -> None:
    from uplink_rigs import make_certs

    other = make_certs(tmp_path / "other-ca")  # a CA that did not sign the broker's certificate
    tls = {"ca_file": other["ca"], "cert_file": certs["client_cert"],
           "key_file": certs["client_key"]}  # fmt: skip
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        store.write_summary(summary(0))
    with caplog.at_level(logging.WARNING):
        fwd = Forwarder(uplink_config(mqtt_sink(tls_broker.port, tls=tls)), device_id=DEVICE,
                        sqlite_path=db).start()  # fmt: skip
        time.sleep(1.0)
        stats = fwd.stop(flush_timeout_s=0)
    assert stats["pending"] == 1 and stats["acked"] == 0
    assert f"cannot connect to mqtt 127.0.0.1:{tls_broker.port}" in caplog.text
    assert "TLS: the broker's certificate is not trusted" in caplog.text  # says why


def test_broker_refusing_auth_gives_a_clear_error_and_keeps_the_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    passwd = make_password_file(tmp_path, "box-17", "right-password")
    broker = make_broker(tmp_path / "auth-broker", password_file=passwd).start()
    db = tmp_path / "box.sqlite"
    try:
        with Store(db) as store:
            for i in range(4):
                store.write_summary(summary(i))
        wrong = mqtt_sink(broker.port, username="box-17", password="wrong-password")
        with caplog.at_level(logging.ERROR):
            fwd = Forwarder(uplink_config(wrong), device_id=DEVICE, sqlite_path=db).start()
            time.sleep(1.0)
            stats = fwd.stop(flush_timeout_s=0)
        assert stats["pending"] == 4  # nothing lost, nothing dead-lettered
        assert stats["dead_letters"] == 0
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1  # said once, not once per retry
        assert f"mqtt 127.0.0.1:{broker.port} refused the connection" in errors[0]
        assert "messages stay in the outbox" in errors[0]
        # the right password (from a file) delivers the kept messages
        ingestor, sub = consumer(broker.port, username="box-17", password="right-password")
        secret = tmp_path / "mqtt.pass"
        secret.write_text("right-password\n")
        right = mqtt_sink(broker.port, username="box-17", password_file=str(secret))
        fwd = Forwarder(uplink_config(right), device_id=DEVICE, sqlite_path=db).start()
        wait_until(lambda: ingestor.counts["new"] >= 4, 10, "the kept messages")
        fwd.stop()
        sub.stop()
        assert summary_seqs(ingestor) == [1, 2, 3, 4]
    finally:
        broker.stop()


def test_producers_and_forwarder_share_the_file_without_losing_writes(
    tmp_path: Path, broker: Broker
) -> None:
    """Two source threads write summaries while the forwarder acks and deletes: no lost row."""
    ingestor, sub = consumer(broker.port, client_id="platform-threads")
    db = tmp_path / "box.sqlite"
    store = Store(db)
    fwd = Forwarder(uplink_config(mqtt_sink(broker.port)), device_id=DEVICE,
                    sqlite_path=db).start()  # fmt: skip

    def produce(source: str) -> None:
        for i in range(40):
            store.write_summary(summary(i, source=source))

    threads = [threading.Thread(target=produce, args=(s,)) for s in ("north", "south")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        wait_until(lambda: ingestor.counts["new"] >= 80, 15, "80 summaries")
    finally:
        fwd.stop()
        store.close()
        sub.stop()
    assert summary_seqs(ingestor) == list(range(1, 81))

"""CLI of the uplink (verify, outbox status, ingest) and the ``uplink:`` config section."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from uplink_rigs import (
    DEVICE,
    KEY,
    SITE,
    Broker,
    broker_fixture,  # noqa: F401 - fixtures
    mqtt_sink,
    summary,
    uplink_config,
)

from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import utc_iso
from carbonedge.runtime.config import parse_site_config
from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.envelope import build_envelope
from carbonedge.runtime.uplink.forwarder import Forwarder


def cli(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", *args],
                          capture_output=True, text=True, timeout=timeout_s)  # fmt: skip


def message(i: int, key: bytes = KEY) -> bytes:
    body = summary(i).to_dict() | {"seq": i + 1}
    return build_envelope(kind="interval_summary", site_id=SITE, device_id=DEVICE,
                          msg_id=body["id"], seq=i + 1, created_at=utc_iso(0), body=body,
                          key=key)  # fmt: skip


def test_verify_cli(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / f"{DEVICE}.key").write_bytes(KEY + b"\n")
    (keys / f"{DEVICE}.key").chmod(0o600)
    good = tmp_path / "good.jsonl"
    good.write_bytes(message(0) + b"\n" + message(1) + b"\n")
    run = cli("verify", "--keys-dir", str(keys), str(good))
    assert run.returncode == 0 and run.stdout.count(": ok box-17 seq") == 2, run.stdout
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(message(0) + b"\n" + message(2, key=b"not-the-device-key-at-all") + b"\n"
                    + message(0) + b"\n")  # fmt: skip
    run = cli("verify", "--keys-dir", str(keys), str(bad))
    assert run.returncode == 1
    assert "bad.jsonl:2: REJECTED: device 'box-17' seq 3: bad signature" in run.stdout
    assert "bad.jsonl:3: DUPLICATE" in run.stdout
    missing = cli("verify", "--keys-dir", str(tmp_path / "nope"), str(good))
    assert missing.returncode == 2 and "keys folder not found" in missing.stderr


def test_outbox_status_cli(tmp_path: Path) -> None:
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(3):
            store.write_summary(summary(i))
    run = cli("outbox", "status", str(db))
    assert run.returncode == 0, run.stderr
    stats = json.loads(run.stdout)
    assert stats["pending"] == 3 and stats["by_kind"] == {"interval_summary": 3}
    assert cli("outbox", "status", str(tmp_path / "missing.sqlite")).returncode == 2


def test_ingest_cli_end_to_end(tmp_path: Path, broker: Broker) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / f"{DEVICE}.key").write_bytes(KEY)
    (keys / f"{DEVICE}.key").chmod(0o600)
    out = tmp_path / "platform.sqlite"
    ingest = subprocess.Popen(
        [sys.executable, "-m", "carbonedge.runtime.cli", "ingest", "--port", str(broker.port),
         "--keys-dir", str(keys), "--sqlite", str(out), "--max-messages", "4",
         "--client-id", "cli-ingest"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    import time

    from uplink_rigs import wait_until

    def subscribed() -> bool:  # the consumer's session exists once it subscribed
        try:
            con = sqlite3.connect(out)
            con.execute("SELECT 1 FROM messages").fetchall()
            return True
        except sqlite3.Error:
            return False

    wait_until(subscribed, 30, "the ingest database")
    time.sleep(1.0)  # give it time to subscribe (a persistent session keeps later messages anyway)
    db = tmp_path / "box.sqlite"
    with Store(db) as store:
        for i in range(4):
            store.write_summary(summary(i))
    fwd = Forwarder(uplink_config(mqtt_sink(broker.port)), device_id=DEVICE, sqlite_path=db)
    fwd.start()
    try:
        _, err = ingest.communicate(timeout=30)
    finally:
        fwd.stop()
        if ingest.poll() is None:
            ingest.kill()
    assert ingest.returncode == 0, err
    assert "new 4" in err and "rejected 0" in err
    rows = sqlite3.connect(out).execute("SELECT seq, kind FROM messages ORDER BY arrival")
    assert rows.fetchall() == [(1, "interval_summary"), (2, "interval_summary"),
                               (3, "interval_summary"), (4, "interval_summary")]  # fmt: skip


SITE_YAML = {
    "device_id": DEVICE,
    "cameras": {"road": {"source": {"type": "synthetic"}}},
    "detector": {"type": "motion"},
}


@pytest.mark.parametrize(
    ("uplink", "error"),
    [
        ({"site_id": "s", "sink": {"type": "mqtt", "host": "h"}, "signing": {"key": "k" * 16}},
         None),
        ({"site_id": "s", "sink": {"type": "http", "url": "https://x/in"},
          "signing": {"key_file": "/etc/key"}, "drain_rate_msg_s": 5}, None),
        ({"site_id": "s", "sink": {"type": "mqtt", "host": "h"}, "signing": {}},
         "uplink.signing: Value error, give exactly one of key"),
        ({"site_id": "s", "sink": {"type": "mqtt", "host": "h", "qos": 2},
          "signing": {"key": "k" * 16}}, "uplink.sink.mqtt.qos: unknown key"),
        ({"site_id": "s", "sink": {"type": "kafka"}, "signing": {"key": "k" * 16}},
         "uplink.sink: unknown type 'kafka'"),
        ({"site_id": "s", "sink": {"type": "mqtt", "host": "h"}, "signing": {"key": "k" * 16},
          "outbox_max_mb": 0}, "uplink.outbox_max_mb"),
    ],
)  # fmt: skip
def test_uplink_config_section(uplink, error) -> None:
    if error is None:
        assert parse_site_config(SITE_YAML | {"uplink": uplink}, origin="site.yaml").uplink
    else:
        with pytest.raises(ConfigError, match=error):
            parse_site_config(SITE_YAML | {"uplink": uplink}, origin="site.yaml")


def test_short_signing_key_is_refused_at_start(tmp_path: Path) -> None:
    key_file = tmp_path / "k"
    key_file.write_text("short\n")
    key_file.chmod(0o600)
    cfg = uplink_config(mqtt_sink(1), signing={"key_file": str(key_file)})
    with pytest.raises(ConfigError, match=f"{key_file}: the signing key must be at least 16"):
        Forwarder(cfg, device_id=DEVICE, sqlite_path=tmp_path / "box.sqlite")

"""``carbonedge outbox forward --until-empty`` finishes when the data is delivered, even with its
own device health message still in flight (a real Mosquitto behind a proxy that drops PUBACKs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from uplink_rigs import KEY, SITE, AckBlackhole, broker_fixture  # noqa: F401 - the fixture

from carbonedge.runtime.store import Store


def test_until_empty_is_not_held_by_its_own_health_message(tmp_path: Path, broker) -> None:
    proxy = AckBlackhole(broker.port)
    proxy.drop_replies = True  # nothing is ever acknowledged: the health message stays in flight
    db = tmp_path / "s.sqlite"
    Store(db).close()  # an empty outbox: every data message was delivered
    (tmp_path / "site.yaml").write_text(
        "device_id: box-17\n"
        "cameras: {road: {source: {type: synthetic, duration_s: 1}}}\n"
        "detector: {type: motion}\n"
        f"output: {{sqlite_path: {db}, jsonl_path: null}}\n"
        f"uplink: {{site_id: {SITE}, signing: {{key: {KEY.decode()}}}, health_interval_s: 1,\n"
        "  flush_timeout_s: 1, sink: {type: mqtt, host: 127.0.0.1, "
        f"port: {proxy.port}, reconnect_min_s: 0.1, reconnect_max_s: 0.5}}}}\n"
    )
    try:
        run = subprocess.run(
            [sys.executable, "-m", "carbonedge.runtime.cli", "outbox", "forward",
             str(tmp_path / "site.yaml"), "--until-empty", "--timeout-s", "20"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        proxy.close()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "(0 data, the rest device health)" in run.stdout

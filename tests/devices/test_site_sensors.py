"""A site with a camera and a real serial PM sensor (socat pty): sensor interval summaries."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import serial
from device_rigs import pty_pair  # noqa: F401 - pytest fixture

from carbonedge.devices.sensors import pms5003
from carbonedge.runtime.config import parse_site_config
from carbonedge.runtime.site import Site
from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.schema import validate_body


def test_sensor_readings_become_interval_summaries(pty_pair, tmp_path: Path) -> None:
    config = parse_site_config({
        "device_id": "box",
        "cameras": {"road": {"source": {"type": "synthetic", "duration_s": 90}}},
        "detector": {"type": "motion"},
        "sensors": [{"id": "pm", "type": "pms5003", "port": str(pty_pair.device)}],
        "summary": {"interval_s": 1},
        "health": {"port": 0},
        "output": {"sqlite_path": str(tmp_path / "s.sqlite"), "jsonl_path": None},
    }, origin="test")  # fmt: skip
    done = threading.Event()

    def sensor_speaks() -> None:  # a PMS5003 in active mode: a frame every 100 ms, 10..19 ug/m3
        with serial.Serial(str(pty_pair.test), 9600) as port:
            k = 0
            while not done.is_set():
                pm = 10 + k % 10
                port.write(pms5003.encode_frame({"pm2_5_ugm3": pm, "pm10_ugm3": pm + 5}))
                if k % 7 == 3:
                    port.write(b"\x42\x4d\x00\x1c garbage")  # malformed: counted and skipped
                k += 1
                time.sleep(0.1)

    writer = threading.Thread(target=sensor_speaks)
    writer.start()
    try:
        running = Site(config)
        running.run()
    finally:
        done.set()
        writer.join()
    with Store(tmp_path / "s.sqlite") as store:
        bodies = [b for b in store.summaries() if b["source_id"] == "pm"]
    assert len(bodies) >= 3, "expected several one-second sensor intervals"
    readings = 0
    for body in bodies:
        validate_body("interval_summary", body)
        section = body["sensor"]
        readings += section["readings"]
        if section["readings"]:
            pm = section["values"]["pm2_5_ugm3"]
            assert 10 <= pm["min"] <= pm["mean"] <= pm["max"] <= 19
    assert readings >= 20
    # the malformed frames were counted (and skipped), not turned into readings
    assert sum(sum(b["sensor"]["errors"].values()) for b in bodies) > 0
    assert [b["seq"] for b in bodies] == sorted(b["seq"] for b in bodies)

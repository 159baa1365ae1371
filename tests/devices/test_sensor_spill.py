"""A sensor's summaries survive a shutdown during a store outage, as the cameras' do: a site with
a real serial PM sensor (socat pty) and its store on a real tmpfs filled to ENOSPC is stopped; the
sensor stage retries for ``output.shutdown_flush_s``, spills what it holds (fsynced, another
filesystem) and logs the counts; the next start, with space again, replays the spill file."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path

import pytest
import serial
from device_rigs import pty_pair  # noqa: F401 - pytest fixture

from carbonedge.devices.sensors import pms5003
from carbonedge.runtime.config import parse_site_config
from carbonedge.runtime.site import Site
from carbonedge.runtime.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))
from disk_rigs import fill, small_fs  # noqa: E402

WAIT_S = 60  # a bound for a condition to come true, not a timing


def _site(tmp_path: Path, store: Path, port: Path, stop: threading.Event, **kw) -> Site:
    config = parse_site_config({
        "device_id": "box",
        "cameras": {"road": {"source": {"type": "synthetic", "duration_s": 3600, "fps": 2,
                                        "width_px": 160, "height_px": 120}}},
        "detector": {"type": "motion"},
        "sensors": [{"id": "pm", "type": "pms5003", "port": str(port)}],
        "summary": {"interval_s": 1},
        "health": {"enabled": False},
        "output": {"sqlite_path": str(store), "jsonl_path": None, "shutdown_flush_s": 1,
                   "spill_dir": str(tmp_path / "spill")},
    }, origin="test")  # fmt: skip
    return Site(config, stop=stop, **kw)


def _pm_ids(store: Path) -> set[str]:
    with Store(store) as s:
        return {b["id"] for b in s.summaries() if b["source_id"] == "pm"}


def _wait(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_sensor_summaries_are_spilled_on_a_full_disk_and_replayed(
    pty_pair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    done = threading.Event()

    def sensor_speaks() -> None:  # a PMS5003 in active mode: a frame every 100 ms
        with serial.Serial(str(pty_pair.test), 9600) as port:
            while not done.is_set():
                port.write(pms5003.encode_frame({"pm2_5_ugm3": 12, "pm10_ugm3": 20}))
                time.sleep(0.1)

    speaker = threading.Thread(target=sensor_speaks)
    speaker.start()
    try:
        with small_fs(tmp_path / "mnt", "16m") as mnt:
            store, stop = mnt / "s.sqlite", threading.Event()
            site = _site(tmp_path, store, pty_pair.device, stop)
            runner = threading.Thread(target=site.run)
            runner.start()
            _wait(lambda: bool(site.sensors) and len(site.sensors[0].summaries) >= 2,
                  "sensor summaries stored")  # fmt: skip
            before = _pm_ids(store)
            filler = fill(mnt)
            stage = site.sensors[0]
            _wait(lambda: stage._writer.pending >= 3, "sensor summaries queued on the full disk")
            with caplog.at_level(logging.ERROR, logger="carbonedge.runtime.sensor_stage"):
                stop.set()
                runner.join(WAIT_S)
            assert not runner.is_alive()
            spill = tmp_path / "spill" / "s.spill.jsonl"  # the camera spills there too
            lines = [json.loads(x) for x in spill.read_text().splitlines()]
            spilled = {
                x["fields"]["id"]
                for x in lines
                if x["item"] == "interval_summary" and x["fields"]["source_id"] == "pm"
            }
            assert len(spilled) >= 3 and not spilled & before
            assert stage.spilled == stage.unwritten == len(spilled)  # 0 lost
            logged = [r.getMessage() for r in caplog.records if "sensor pm: store still" in
                      r.getMessage()]  # fmt: skip
            assert len(logged) == 1 and logged[0].endswith(" 0 LOST"), logged

            filler.unlink()  # space again: the next start replays the spill file first
            again = _site(tmp_path, store, pty_pair.device, threading.Event(), max_frames=1)
            again.run()
            assert not spill.exists()
            assert (before | spilled) <= _pm_ids(store)
    finally:
        done.set()
        speaker.join()

"""Rig for the HJ 212 tests: an on-box store with sensor and camera summaries, a fast link config,
and the test platform on a free loopback port (real TCP, real SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rigs import free_port

from carbonedge.runtime.base.events import IntervalSummary
from carbonedge.runtime.store import Store
from carbonedge.runtime.uplink.hj212.config import Hj212Config
from carbonedge.runtime.uplink.hj212.platform import Hj212Platform

T0 = 1_767_254_400.0  # 2026-01-01T08:00:00Z = 16:00 in Asia/Shanghai
MN = "010000A8900016F000169DC0"
PW = "123456"


def sensor_summary(
    start_s: float,
    *,
    source_id: str = "pm",
    sensor_type: str = "pms5003",
    values: dict[str, tuple[float, float, float]] | None = None,
    readings: int = 60,
    state: str = "streaming",
    interval_s: float = 60.0,
) -> IntervalSummary:
    """A sensor interval: ``values`` name -> (mean, min, max)."""
    if values is None:
        values = {"pm2_5_ugm3": (25.0, 20.0, 30.0), "pm10_ugm3": (40.0, 35.0, 48.0)}
    section = {
        "type": sensor_type, "readings": readings, "state": state, "errors": {},
        "values": {k: {"mean": m, "min": lo, "max": hi} for k, (m, lo, hi) in values.items()},
    }  # fmt: skip
    return IntervalSummary(
        device_id="box-17", source_id=source_id, seq=0, interval_start_s=start_s,
        interval_end_s=start_s + interval_s, counts={}, frames=readings,
        detector=f"sensor:{sensor_type}", sections={"sensor": section},
    )  # fmt: skip


def traffic_summary(
    start_s: float,
    *,
    vehicles: dict[str, int] | None = None,
    co2_g: float = 1500.0,
    frames: int = 1500,
    crossings: dict[str, dict[str, dict[str, int]]] | None = None,
    source_id: str = "cam",
) -> IntervalSummary:
    """A camera interval with a ``traffic`` section (vehicles seen), line crossings (``counts``:
    line -> direction -> class; default: each vehicle seen crossed line ``main`` once) and an
    ``emissions`` total."""
    vehicles = {"car": 12, "truck": 2, "person": 5} if vehicles is None else vehicles
    if crossings is None:
        crossings = {"main": {"in": dict(vehicles), "out": {}}}
    traffic = {
        c: {"vehicles": n, "observed_s": 10.0 * n, "idle_s": 0.0} for c, n in vehicles.items()
    }
    emissions = {"method": "copert", "tables": "t", "total": {
        "vehicles": sum(vehicles.values()), "km": 1.0, "co2_g": [co2_g, co2_g * 0.8, co2_g * 1.2],
        "nox_g": [2.5, 2.0, 3.0], "pm25_g": [0.05, 0.04, 0.06], "co_g": [4.0, 3.0, 5.0]},
        "by_class": {}}  # fmt: skip
    return IntervalSummary(
        device_id="box-17", source_id=source_id, seq=0, interval_start_s=start_s,
        interval_end_s=start_s + 60.0, counts=crossings, frames=frames, detector="yolox",
        sections={"traffic": traffic, "emissions": emissions},
    )  # fmt: skip


def write(path: Path, summaries: list[IntervalSummary]) -> None:
    with Store(path) as store:
        for s in summaries:
            store.write_summary(s)


def hj_config(port: int, **overrides: Any) -> Hj212Config:
    """Fast timings for loopback tests (the standard's defaults are 10 s and 3 re-sends)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1", "port": port, "mn": MN, "pw": PW, "st": "22",
        "overtime_s": 1.0, "retries": 2, "poll_s": 0.05, "close_grace_s": 0.0,
        "reconnect_min_s": 0.05, "reconnect_max_s": 0.3, "realtime": False,
    }  # fmt: skip
    values.update(overrides)
    return Hj212Config(**values)


@pytest.fixture()
def platform():
    """The test platform on a free port, answering 9014 at once; stopped after the test."""
    p = Hj212Platform("127.0.0.1", free_port(), ack=True).start()
    yield p
    p.stop()


def data_times(packets: list, cn: str) -> list[str]:
    return [p.cp.get("DataTime") for p in packets if p.cn == cn]

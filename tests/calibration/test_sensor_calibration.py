"""Sensor calibration: zero/span and co-location maths, bad input, the CLI, and a real serial
sensor (socat pty) whose readings come out corrected in its interval summaries."""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import serial
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devices"))  # tests/devices rigs
from device_rigs import pty_pair  # noqa: E402, F401 - pytest fixture

from carbonedge.calibration.errors import CalibrationInputError  # noqa: E402
from carbonedge.calibration.record import RecordStore  # noqa: E402
from carbonedge.calibration.sensor import (  # noqa: E402
    LinearCorrection,
    SensorCorrection,
    TimeSeries,
    colocate,
    read_series_csv,
    zero_span,
    zero_span_in_progress,
    zero_span_marker,
)
from carbonedge.devices.sensors import pms5003  # noqa: E402
from carbonedge.devices.sensors.pms5003 import Pms5003Config  # noqa: E402
from carbonedge.runtime import cli  # noqa: E402
from carbonedge.runtime.calibrate.sensor_cli import read_series_store  # noqa: E402
from carbonedge.runtime.config import load_site_config  # noqa: E402
from carbonedge.runtime.sensor_stage import (
    SensorStage,  # noqa: E402
    merge_sensor,  # noqa: E402
)
from carbonedge.runtime.site import Site  # noqa: E402
from carbonedge.runtime.store import Store  # noqa: E402
from carbonedge.runtime.uplink.schema import validate_body  # noqa: E402

KEY = "sensor-calibration-test-key-0123456789"
T0_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z


# --- zero/span ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zero_raw", "span_raw", "span_ref", "zero_ref", "gain", "offset", "error"),
    [
        (0.0, 400.0, 400.0, 0.0, 1.0, 0.0, None),
        (20.0, 420.0, 400.0, 0.0, 1.0, -20.0, None),  # pure zero drift
        (10.0, 810.0, 1000.0, 0.0, 1.25, -12.5, None),  # reads low, with an offset
        (5.0, 205.0, 400.0, 400.0, None, None, "span reference equals zero reference"),
        (50.0, 50.0, 400.0, 0.0, None, None, "span reading equals zero reading"),
        (400.0, 10.0, 400.0, 0.0, None, None, "negative gain"),
        (math.nan, 400.0, 400.0, 0.0, None, None, "zero_raw must be finite"),
        (0.0, math.inf, 400.0, 0.0, None, None, "span_raw must be finite"),
    ],
)
def test_zero_span(zero_raw, span_raw, span_ref, zero_ref, gain, offset, error) -> None:
    if error is not None:
        with pytest.raises(CalibrationInputError, match=error):
            zero_span(zero_raw, span_raw, span_ref, zero_ref=zero_ref)
        return
    c = zero_span(zero_raw, span_raw, span_ref, zero_ref=zero_ref)
    assert (c.gain, c.offset, c.method) == (pytest.approx(gain), pytest.approx(offset), "zero_span")
    assert c.apply(zero_raw) == pytest.approx(zero_ref)
    assert c.apply(span_raw) == pytest.approx(span_ref)
    assert c.invert(c.apply(123.4)) == pytest.approx(123.4)


def test_correction_round_trips_through_the_record_dict() -> None:
    sc = SensorCorrection({"co2_ppm": zero_span(10, 810, 1000)}, "co2@v3")
    again = SensorCorrection.from_record_dict(sc.to_record_dict(), "co2@v3")
    assert again.values["co2_ppm"] == sc.values["co2_ppm"]
    assert again.apply({"co2_ppm": 410.0, "t_c": 21.0}) == {"co2_ppm": 500.0, "t_c": 21.0}
    with pytest.raises(CalibrationInputError, match=r"co2@v3: sensor.corrections.co2_ppm.*posit"):
        SensorCorrection.from_record_dict({"corrections": {"co2_ppm": {"gain": -1, "offset": 0}}},
                                          "co2@v3")  # fmt: skip
    with pytest.raises(CalibrationInputError, match="'corrections' mapping"):
        SensorCorrection.from_record_dict({"gain": 1}, "co2@v3")


# --- co-location -------------------------------------------------------------------------------


def _colocation_series(gain: float, offset: float, noise: float, hours: int, seed: int = 7):
    """Truth varying over a day; box raw once a minute = (truth - offset) / gain + noise;
    reference = hourly means of the truth, rows labelled by their interval's start."""
    rng = np.random.default_rng(seed)
    t_box = T0_S + 30.0 + 60.0 * np.arange(hours * 60)
    truth = 40 + 25 * np.sin(2 * np.pi * (t_box - T0_S) / 86400) + 10 * np.sin(t_box / 5000)
    raw = (truth - offset) / gain + rng.normal(0, noise, t_box.size)
    t_ref = T0_S + 3600.0 * np.arange(hours)
    ref = truth.reshape(hours, 60).mean(axis=1)
    box = TimeSeries(t_box, raw, np.ones_like(raw), "box.csv:pm2_5_ugm3")
    return TimeSeries(t_ref, ref, np.ones_like(ref), "ref.csv:value"), box


def test_colocation_recovers_known_gain_and_offset() -> None:
    reference, box = _colocation_series(gain=1.35, offset=-4.0, noise=6.0, hours=72)
    fit = colocate(reference, box)
    # the noise averages over 60 readings an hour: sd 6 / sqrt(60) ~ 0.77 raw units per point
    print(f"\nco-location: gain {fit.gain:.4f} offset {fit.offset:.3f} R^2 {fit.r2:.4f} "
          f"RMSE {fit.rmse:.3f} n {fit.n_points}")  # fmt: skip
    assert fit.n_points == 72
    assert fit.gain == pytest.approx(1.35, rel=0.02)
    assert fit.offset == pytest.approx(-4.0, abs=1.5)
    expected_rmse = 1.35 * 6.0 / math.sqrt(60)
    assert fit.rmse == pytest.approx(expected_rmse, rel=0.25)
    expected_r2 = 1 - expected_rmse**2 / np.var(reference.values)
    assert fit.r2 == pytest.approx(expected_r2, abs=0.01)
    assert 0.99 < fit.r2 < 1.0
    assert fit.residuals.shape == (72,)
    assert np.sqrt(np.mean(fit.residuals**2)) == pytest.approx(fit.rmse)
    # misaligned by an hour (rows read as interval ends): the fit gets visibly worse
    shifted = colocate(reference, box, label="end")
    assert shifted.n_points == 71 and shifted.r2 < fit.r2


def test_colocation_from_csv_files_with_gaps(tmp_path: Path) -> None:
    reference, box = _colocation_series(gain=0.8, offset=3.0, noise=1.0, hours=30)
    iso = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in reference.t_s]
    ref_values = [f"{v:.4f}" for v in reference.values]
    ref_values[5] = ""  # the reference logger missed an hour
    ref_csv = _write_csv(tmp_path / "ref.csv", "time,value", iso, ref_values)
    keep = (box.t_s < T0_S + 10 * 3600) | (box.t_s >= T0_S + 12 * 3600)  # box off for 2 hours
    box_csv = _write_csv(tmp_path / "box.csv", "time,pm2_5_ugm3", box.t_s[keep], box.values[keep])
    fit = colocate(read_series_csv(ref_csv, "value"), read_series_csv(box_csv, "pm2_5_ugm3"))
    assert fit.n_points == 30 - 1 - 2
    assert fit.gain == pytest.approx(0.8, rel=0.02)
    assert fit.offset == pytest.approx(3.0, abs=0.5)


def _write_csv(path: Path, header: str, times, values) -> Path:
    rows = "".join(f"{t},{v}\n" for t, v in zip(times, values, strict=True))
    path.write_text(f"{header}\n{rows}")
    return path


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("ref_text", "box_text", "error"),
    [
        (
            "time,value\n0,1\n3600,2\n",
            "time,pm\n10,1\n3610,2\n",
            r"only 2 reference intervals of "
            r".*ref.csv:value hold readings of .*box.csv:pm \(need 10\)",
        ),
        (
            "time,value\n" + "".join(f"{h * 3600},5\n" for h in range(12)),
            "time,pm\n" + "".join(f"{h * 3600 + 9},{h}\n" for h in range(12)),
            r"ref.csv:value is constant \(5\)",
        ),
        (
            "time,value\n" + "".join(f"{h * 3600},{h}\n" for h in range(12)),
            "time,pm\n" + "".join(f"{h * 3600 + 9},7\n" for h in range(12)),
            r"box.csv:pm is constant",
        ),
        (
            "time,value\n" + "".join(f"{h * 3600},{h}\n" for h in range(12)),
            "time,pm\n" + "".join(f"{h * 3600 + 9},{-h}\n" for h in range(12)),
            "gain .* not positive",
        ),
        ("time,value\n0,1\n", "time,pm\n1,1\n", r"ref.csv:value: needs at least 2 rows"),
        ("time,reading\n0,1\n", "time,pm\n1,1\n", r"ref.csv: no column 'value' \(columns: time, "),
        (
            "time,value\n0,1\n60,abc\n",
            "time,pm\n1,1\n",
            r"ref.csv line 3 column 'value': 'abc' is "
            "not a number",
        ),
        ("time,value\n0,1\n60,nan\n", "time,pm\n1,1\n", r"line 3 column 'value': 'nan' is not fin"),
        ("time,value\nyesterday,1\n", "time,pm\n1,1\n", r"ref.csv line 2: time 'yesterday' is "),
    ],
)
def test_colocation_bad_input(tmp_path: Path, ref_text: str, box_text: str, error: str) -> None:
    with pytest.raises(CalibrationInputError, match=error):
        reference = read_series_csv(_write(tmp_path / "ref.csv", ref_text), "value")
        box = read_series_csv(_write(tmp_path / "box.csv", box_text), "pm")
        colocate(reference, box)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CalibrationInputError, match=r"nothere.csv: file not found"):
        read_series_csv(tmp_path / "nothere.csv", "value")


def test_box_series_from_the_store_is_raw_again(tmp_path: Path) -> None:
    """Summaries written under a correction are inverted back to raw for a new fit."""
    correction = SensorCorrection({"pm2_5_ugm3": LinearCorrection(2.0, 1.0)}, "pm@v1")
    stage = SensorStage(Pms5003Config(id="pm", port="/dev/null"), device_id="box", interval_s=60,
                        store=None, correction=correction)  # fmt: skip
    with Store(tmp_path / "s.sqlite") as store:
        for minute, raw in enumerate((10.0, 12.0, 11.0)):
            stage._values.add(_reading(correction.apply({"pm2_5_ugm3": raw}), minute))
            _, sections = stage._close(T0_S + 60 * minute, T0_S + 60 * (minute + 1))
            store.write_summary(_summary(sections["sensor"], minute, store.next_seq("box")))
    series = read_series_store(tmp_path / "s.sqlite", "pm", "pm2_5_ugm3")
    assert series.values.tolist() == pytest.approx([10.0, 12.0, 11.0])
    assert series.t_s.tolist() == [T0_S + 30, T0_S + 90, T0_S + 150]
    with pytest.raises(CalibrationInputError, match="no summaries with this value"):
        read_series_store(tmp_path / "s.sqlite", "pm", "co2_ppm")


def _reading(values, minute: int):
    from carbonedge.devices.sensors.base import SensorReading

    return SensorReading("box", "pm", T0_S + 60 * minute + 1, 0.0, values)


def _summary(section, minute: int, seq: int):
    from carbonedge.runtime.base.events import IntervalSummary

    return IntervalSummary("box", "pm", seq, T0_S + 60 * minute, T0_S + 60 * (minute + 1), {},
                           section["readings"], "sensor:pms5003",
                           sections={"sensor": section})  # fmt: skip


def test_compaction_keeps_calibrating_and_equal_corrections() -> None:
    merge = merge_sensor
    corr = {"record_id": "pm@v1", "values": {"pm2_5_ugm3": {"gain": 0.8, "offset": 2.0}}}
    a = {
        "type": "pms5003",
        "readings": 2,
        "state": "calibrating",
        "errors": {},
        "values": {"pm2_5_ugm3": {"mean": 10.0, "min": 9.0, "max": 11.0}},
        "correction": corr,
    }
    b = {**a, "state": "streaming", "values": {"pm2_5_ugm3": {"mean": 13.0, "min": 12.0,
                                                               "max": 14.0}}}  # fmt: skip
    merged = merge(a, b, {}, {})
    assert merged["state"] == "calibrating"  # data C stays C
    assert merged["correction"] == corr
    assert merged["values"]["pm2_5_ugm3"]["mean"] == pytest.approx(11.5)
    other = {**b, "correction": {**corr, "record_id": "pm@v2"}}
    assert "correction" not in merge(a, other, {}, {})
    assert merge({**a, "state": "streaming"}, b, {}, {})["state"] == "streaming"


# --- the CLI -----------------------------------------------------------------------------------


def _site_yaml(tmp_path: Path, *, port: str = "/dev/null", calibration: bool = True,
               duration_s: float = 40) -> Path:  # fmt: skip
    data = {
        "device_id": "box",
        "cameras": {"road": {"source": {"type": "synthetic", "duration_s": duration_s}}},
        "detector": {"type": "motion"},
        "sensors": [{"id": "pm", "type": "pms5003", "port": port}],
        "summary": {"interval_s": 1},
        "health": {"port": 0},
        "output": {"sqlite_path": str(tmp_path / "s.sqlite"), "jsonl_path": None},
    }
    if calibration:
        data["calibration"] = {"records_dir": str(tmp_path / "records"), "key": KEY}
        # calibration changes are queued upstream only with an uplink (no forwarder runs here)
        data["uplink"] = {
            "site_id": "main-st",
            "signing": {"key": KEY},
            "sink": {"type": "mqtt", "host": "127.0.0.1", "port": 1},
        }
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _calibrate(*argv: str) -> int:
    return cli.main(["calibrate", "sensor", *argv])


def test_cli_zero_span_then_colocate_writes_signed_records(tmp_path: Path, capsys) -> None:
    site = str(_site_yaml(tmp_path))
    marker = zero_span_marker(tmp_path / "records", "pm")
    assert _calibrate("zero-span", site, "--sensor", "pm", "--begin", "--by", "ana") == 0
    assert "zero/span by ana until " in zero_span_in_progress(marker)
    assert _calibrate("zero-span", site, "--sensor", "pm", "--value", "pm2_5_ugm3", "--zero-raw",
                      "2", "--span-raw", "52", "--span-ref", "40", "--by", "ana") == 0  # fmt: skip
    assert not marker.exists()  # the zero/span is over: data no longer flagged C
    out = capsys.readouterr().out
    assert "pm pm2_5_ugm3: corrected = 0.8 * raw -1.6" in out and "saved pm@v1" in out
    records = RecordStore(tmp_path / "records", KEY.encode())
    first = records.current("pm")
    assert (first.record_id, first.kind, first.created_by) == ("pm@v1", "sensor", "ana")
    assert SensorCorrection.of_record(first).values["pm2_5_ugm3"].gain == pytest.approx(0.8)

    reference, box = _colocation_series(gain=1.1, offset=2.0, noise=1.0, hours=24)
    ref_csv = _write_csv(tmp_path / "ref.csv", "time,value", reference.t_s, reference.values)
    box_csv = _write_csv(tmp_path / "box.csv", "time,pm10_ugm3", box.t_s, box.values)
    assert _calibrate("colocate", site, "--sensor", "pm", "--value", "pm10_ugm3", "--reference",
                      str(ref_csv), "--box", str(box_csv), "--json",
                      "--residuals", str(tmp_path / "res.csv")) == 0  # fmt: skip
    printed = json.loads(capsys.readouterr().out.splitlines()[0])
    assert printed["gain"] == pytest.approx(1.1, rel=0.02) and printed["r2"] > 0.99
    assert printed["n_points"] == 24 and len(printed["residuals"]) == 24
    assert len((tmp_path / "res.csv").read_text().splitlines()) == 25
    second = SensorCorrection.of_record(records.current("pm"))
    assert second.record_id == "pm@v2"
    assert set(second.values) == {"pm2_5_ugm3", "pm10_ugm3"}  # the zero/span is kept
    assert second.values["pm10_ugm3"].details["n_points"] == 24
    assert [r.record_id for r in records.history("pm")] == ["pm@v1", "pm@v2"]


@pytest.mark.parametrize(
    ("args", "calibration", "error"),
    [
        (("zero-span", "--sensor", "co2", "--begin"), True, "no sensor 'co2' in sensors (pm)"),
        (("zero-span", "--sensor", "pm", "--begin"), False, "no calibration: section"),
        (("zero-span", "--sensor", "pm", "--value", "co2_ppm", "--zero-raw", "3"), True,
         "give --span-raw, --span-ref"),
        (("zero-span", "--sensor", "pm", "--zero-raw", "3"), True, "--value is required"),
        (("zero-span", "--sensor", "pm", "--value", "co2_ppm", "--zero-raw", "400", "--span-raw",
          "3", "--span-ref", "400"), True, "negative gain"),
        (("colocate", "--sensor", "pm", "--value", "pm10_ugm3", "--reference", "missing.csv",
          "--box", "box.csv"), True, "missing.csv: file not found"),
        (("colocate", "--sensor", "pm", "--value", "pm10_ugm3", "--reference", "missing.csv",
          "--box-store", "nostore.sqlite"), True, "missing.csv: file not found"),
    ],
)  # fmt: skip
def test_cli_bad_input(tmp_path: Path, capsys, args, calibration: bool, error: str) -> None:
    site = str(_site_yaml(tmp_path, calibration=calibration))
    action, rest = args[0], [str(tmp_path / a) if a.endswith(".csv") else a for a in args[1:]]
    assert _calibrate(action, site, *rest) == 2
    assert error in capsys.readouterr().err
    assert not (tmp_path / "records" / "pm").exists() or "--begin" in args


def test_cli_dry_run_needs_no_records(tmp_path: Path, capsys) -> None:
    site = str(_site_yaml(tmp_path, calibration=False))
    assert _calibrate("zero-span", site, "--sensor", "pm", "--value", "co2_ppm", "--zero-raw", "5",
                      "--span-raw", "405", "--span-ref", "400", "--dry-run") == 0  # fmt: skip
    assert "corrected = 1 * raw -5" in capsys.readouterr().out
    assert not (tmp_path / "records").exists()


def test_zero_span_marker_expires(tmp_path: Path) -> None:
    marker = zero_span_marker(tmp_path, "co2")
    marker.parent.mkdir()
    marker.write_text(json.dumps({"by": "bo", "until_s": time.time() - 1}))
    assert zero_span_in_progress(marker) is None  # a forgotten marker does not flag data forever
    marker.write_text("{not json")
    assert "unreadable" in zero_span_in_progress(marker)  # better C than N
    assert zero_span_in_progress(tmp_path / "none.json") is None


# --- a real serial sensor ----------------------------------------------------------------------

FAST = {"stall_after_s": 0.8, "reconnect_after_s": 1.5, "backoff_initial_s": 0.1,
        "backoff_max_s": 0.5}  # fmt: skip


def _speak_pms(port_path: Path, done: threading.Event) -> None:
    """A PMS5003 in active mode: a frame every 50 ms, PM2.5 raw 10..19, PM10 = PM2.5 + 5."""
    with serial.Serial(str(port_path), 9600) as port:
        k = 0
        while not done.is_set():
            pm = 10 + k % 10
            port.write(pms5003.encode_frame({"pm2_5_ugm3": pm, "pm10_ugm3": pm + 5}))
            k += 1
            time.sleep(0.05)


def test_serial_readings_corrected_and_flagged_while_calibrating(pty_pair, tmp_path) -> None:
    correction = SensorCorrection({"pm2_5_ugm3": LinearCorrection(0.8, 2.0)}, "pm@v1")
    marker = zero_span_marker(tmp_path / "records", "pm")
    marker.parent.mkdir(parents=True)
    with Store(tmp_path / "s.sqlite") as store:
        stage = SensorStage(Pms5003Config(id="pm", port=str(pty_pair.device), **FAST),
                            device_id="box", interval_s=0.5, store=store, correction=correction,
                            zero_span_marker=marker)  # fmt: skip
        stop, done = threading.Event(), threading.Event()
        threads = [threading.Thread(target=stage.run, args=(stop,)),
                   threading.Thread(target=_speak_pms, args=(pty_pair.test, done))]  # fmt: skip
        for thread in threads:
            thread.start()
        try:
            time.sleep(1.5)
            marker.write_text(json.dumps({"by": "ana", "until_s": time.time() + 60}))
            time.sleep(2.0)
            state_during = stage.sensor.health.snapshot()["state"]
            marker.unlink()
            time.sleep(2.0)
        finally:
            stop.set()
            done.set()
            for thread in threads:
                thread.join(10)
        bodies = [b for b in store.summaries() if b["source_id"] == "pm"]
    assert state_during == "calibrating"
    states = [b["sensor"]["state"] for b in bodies if b["sensor"]["readings"]]
    states = [s for s in states if s != "closed"]  # the interval flushed as the stage stops
    print(f"\nsensor states per 0.5 s interval: {states}")
    assert "calibrating" in states and states[-1] == "streaming"
    first_c, last_c = (
        states.index("calibrating"),
        len(states) - 1 - states[::-1].index("calibrating"),
    )
    assert first_c > 0 and set(states[first_c : last_c + 1]) == {"calibrating"}
    for body in bodies:
        validate_body("interval_summary", body)
        assert body["calibration_id"] == "pm@v1"
        section = body["sensor"]
        assert section["correction"] == {
            "record_id": "pm@v1",
            "values": {"pm2_5_ugm3": {"gain": 0.8, "offset": 2.0}},
        }
        if not section["readings"]:
            continue
        pm25, pm10 = section["values"]["pm2_5_ugm3"], section["values"]["pm10_ugm3"]
        assert 0.8 * 10 + 2 <= pm25["min"] <= pm25["mean"] <= pm25["max"] <= 0.8 * 19 + 2
        assert 15 <= pm10["min"] <= pm10["max"] <= 24  # not corrected
        for raw in ((pm25["min"] - 2.0) / 0.8, (pm25["max"] - 2.0) / 0.8):
            assert raw == pytest.approx(round(raw), abs=1e-6) and 10 <= round(raw) <= 19


def test_site_applies_the_sensors_current_record(pty_pair, tmp_path: Path) -> None:
    """A signed record saved by the CLI drives a site run: corrected summaries carry its id."""
    site = _site_yaml(tmp_path, port=str(pty_pair.device), duration_s=40)
    assert _calibrate("zero-span", str(site), "--sensor", "pm", "--value", "pm2_5_ugm3",
                      "--zero-raw", "5", "--span-raw", "25", "--span-ref", "10") == 0  # fmt: skip
    # gain 0.5, offset -2.5: raw 10..19 -> 2.5..7
    done = threading.Event()
    writer = threading.Thread(target=_speak_pms, args=(pty_pair.test, done))
    writer.start()
    try:
        Site(load_site_config(site)).run()
    finally:
        done.set()
        writer.join()
    with Store(tmp_path / "s.sqlite") as store:
        bodies = [b for b in store.summaries() if b["source_id"] == "pm"]
        changes = store.db.execute(
            "SELECT body FROM outbox WHERE kind = 'calibration_change'"
        ).fetchall()  # fmt: skip
    with_readings = [b for b in bodies if b["sensor"]["readings"]]
    assert len(with_readings) >= 2, "expected several one-second sensor intervals"
    for body in bodies:
        validate_body("interval_summary", body)
        assert body["calibration_id"] == "pm@v1"
    for body in with_readings:
        pm25 = body["sensor"]["values"]["pm2_5_ugm3"]
        assert 2.5 <= pm25["min"] <= pm25["mean"] <= pm25["max"] <= 7.0
        assert body["sensor"]["correction"]["values"]["pm2_5_ugm3"] == {"gain": 0.5, "offset": -2.5}
    assert [json.loads(c[0])["target"] for c in changes] == ["sensor_zero_span"]


def test_sensor_id_may_not_repeat_a_source_id() -> None:
    from carbonedge.runtime.base.errors import ConfigError
    from carbonedge.runtime.config import parse_site_config

    config = {"device_id": "box", "cameras": {"pm": {"source": {"type": "synthetic"}}},
              "detector": {"type": "motion"},
              "sensors": [{"id": "pm", "type": "pms5003", "port": "/dev/null"}]}  # fmt: skip
    with pytest.raises(ConfigError, match="site.yaml: .*sensor ids must differ .* repeated: pm"):
        parse_site_config(config, origin="site.yaml")

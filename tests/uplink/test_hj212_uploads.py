"""HJ 212 uploads: summaries -> CP data, data flags, the durable queue and period closing."""

from __future__ import annotations

import pytest
from hj212_rig import MN, PW, T0, hj_config, sensor_summary, traffic_summary, write
from pydantic import ValidationError

from carbonedge.runtime.uplink.hj212.codec import CN, CpData, decode_packet
from carbonedge.runtime.uplink.hj212.config import FactorCode, Hj212Config
from carbonedge.runtime.uplink.hj212.queue import Hj212Queue, Packer, Producer, QnClock
from carbonedge.runtime.uplink.hj212.uploads import (
    aggregate_cp,
    combine_flags,
    data_time,
    parse_data_time,
    realtime_cp,
    sensor_flag,
)

CFG = hj_config(9212)


def _dict(s) -> dict:
    return s.to_dict()


@pytest.mark.parametrize(
    ("state", "readings", "maintenance", "flag"),
    [
        ("streaming", 60, False, "N"),
        ("stalled", 30, False, "N"),  # it had data this interval
        ("streaming", 60, True, "M"),  # technician switch
        ("maintenance", 60, False, "M"),
        ("calibrating", 60, False, "C"),
        ("failed", 0, False, "D"),
        ("failed", 10, False, "D"),
        ("stalled", 0, False, "B"),  # serial line silent: instrument <-> logger
        ("connecting", 0, False, "B"),
        ("closed", 0, False, "F"),
    ],
)
def test_sensor_flag_table(state, readings, maintenance, flag):
    assert sensor_flag(state, readings, maintenance=maintenance) == flag


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], None),
        (["N"] * 3 + ["D"], "N"),  # 75 % normal is normal (note to App. C.16)
        (["N"] * 2 + ["D", "B"], "D"),  # below 75 %: the most frequent other, D before B on a tie
        (["N", "B", "B", "D"], "B"),
        (["C"] * 4, "C"),
    ],
)
def test_combine_flags(flags, expected):
    assert combine_flags(flags) == expected


def test_minute_cp_from_sensor_and_traffic_summaries():
    pm = sensor_summary(T0)
    co2 = sensor_summary(T0, source_id="co2", sensor_type="mhz19",
                         values={"co2_ppm": (420.0, 410.0, 455.0)})  # fmt: skip
    cam = traffic_summary(T0)
    items, factors = aggregate_cp([_dict(pm), _dict(co2), _dict(cam)], CFG, T0)
    assert items == [("DataTime", "20260101160000")]  # Asia/Shanghai, interval start
    assert factors["a34004"] == {"Min": "20.0", "Avg": "25.0", "Max": "30.0", "Flag": "N"}
    assert factors["a34002"]["Avg"] == "40.0"
    # CO2 ppm -> mg/m3 at 25 degC: 44.01 / 24.465 = 1.7989 mg/m3 per ppm
    assert factors["a05001"]["Avg"] == "755.5" and factors["a05001"]["Max"] == "818.5"
    # vehicles: car 12 + truck 2 (the person is not a vehicle); emissions in kg
    assert factors["ce1000"] == {"Cou": "14", "Flag": "N"}
    assert factors["ce1001"]["Cou"] == "12" and factors["ce1004"]["Cou"] == "2"
    assert factors["ce2001"] == {"Cou": "1.500000", "Flag": "N"}
    assert factors["ce2003"]["Cou"] == "0.000050"
    assert list(factors) == sorted(factors)
    cp = CpData(items, factors)  # valid CP (the codec checks names and values)
    assert "a34004-Min=20.0,a34004-Avg=25.0,a34004-Max=30.0,a34004-Flag=N" in cp.encode()


def test_hour_aggregate_weights_by_readings_and_sums_counts():
    minutes = [
        sensor_summary(T0, values={"pm2_5_ugm3": (10.0, 5.0, 12.0)}, readings=30),
        sensor_summary(T0 + 60, values={"pm2_5_ugm3": (40.0, 38.0, 70.0)}, readings=90),
        sensor_summary(T0 + 120, readings=0, values={}, state="failed"),
        sensor_summary(T0 + 180, values={"pm2_5_ugm3": (20.0, 19.0, 21.0)}, readings=60),
        traffic_summary(T0, vehicles={"car": 3}),
        traffic_summary(T0 + 60, vehicles={"car": 4, "bus": 1}),
    ]
    _, factors = aggregate_cp([_dict(s) for s in minutes], CFG, T0)
    pm25 = factors["a34004"]
    assert pm25["Avg"] == f"{(10 * 30 + 40 * 90 + 20 * 60) / 180:.1f}"
    assert (pm25["Min"], pm25["Max"]) == ("5.0", "70.0")
    assert pm25["Flag"] == "N"  # 3 of 4 minutes normal
    assert factors["ce1000"]["Cou"] == "8" and factors["ce1003"]["Cou"] == "1"
    assert factors["ce2001"]["Cou"] == "3.000000"


def test_camera_flags_follow_frames_and_calibration():
    moved = {**_dict(traffic_summary(T0)), "calibration_valid": False}
    no_frames = _dict(traffic_summary(T0 + 60, frames=0))
    for summary, flag in ((moved, "D"), (no_frames, "F"), (_dict(traffic_summary(T0)), "N")):
        _, factors = aggregate_cp([summary], CFG, T0)
        assert factors["ce1000"]["Flag"] == flag and factors["ce2001"]["Flag"] == flag


def test_silent_sensor_gets_a_flag_without_values():
    dead = sensor_summary(T0, readings=0, values={}, state="stalled")
    _, factors = aggregate_cp([_dict(dead)], CFG, T0)
    assert factors["a34004"] == {"Flag": "B"} and factors["a34002"] == {"Flag": "B"}


def test_codes_are_configurable_and_upper_limit_gives_t(tmp_path):
    cfg = hj_config(
        9212,
        codes={"pm2_5_ugm3": FactorCode(code="a34004", decimals=0, upper_limit=28.0),
               "noise_dba": FactorCode(code="LA", decimals=1)},
        vehicle_codes={"total": "x01001"}, emission_codes={"co2": "x02001"},
    )  # fmt: skip
    s = sensor_summary(T0, values={"pm2_5_ugm3": (25.0, 20.0, 30.0), "noise_dba": (61.0, 50, 70)})
    _, factors = aggregate_cp([_dict(s), _dict(traffic_summary(T0))], cfg, T0)
    assert factors["a34004"] == {"Min": "20", "Avg": "25", "Max": "30", "Flag": "T"}
    assert factors["LA"]["Avg"] == "61.0"
    assert "x01001" in factors and "x02001" in factors and "ce1000" not in factors
    _, factors = aggregate_cp([_dict(s)], cfg, T0, maintenance=True)
    assert factors["a34004"]["Flag"] == "M"


def test_maintenance_file_switches_flags(tmp_path):
    flag_file = tmp_path / "maintenance"
    _, producer = _producer(tmp_path / "s.sqlite", hj_config(9212, maintenance_file=flag_file))
    assert not producer.maintenance()
    flag_file.touch()
    assert producer.maintenance()
    producer.queue.close()


def test_realtime_cp_uses_live_state():
    s = _dict(sensor_summary(T0))
    items, factors = realtime_cp([s], CFG, T0 + 75)
    assert items == [("DataTime", "20260101160115")]
    assert factors["a34004"] == {"Rtd": "25.0", "Flag": "N"}
    _, factors = realtime_cp([s], CFG, T0 + 75, states={"pm": "calibrating"})
    assert factors["a34004"]["Flag"] == "C"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"mn": "XYZ"}, "mn"),
        ({"pw": "1234"}, "pw"),
        ({"pw": "12;456"}, "pw must not contain"),
        ({"timezone": "Mars/Olympus"}, "unknown timezone"),
        ({"reconnect_min_s": 5.0, "reconnect_max_s": 1.0}, "reconnect_max_s"),
        ({"minute_interval_s": 90}, "whole minutes"),
        ({"overtime_s": 120}, "overtime_s"),
        ({"version": "2025"}, "version"),
        ({"vehicle_codes": {"car": "a-b"}}, "code for 'car'"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_config_errors_name_the_field(override, message):
    with pytest.raises(ValidationError, match=message):
        hj_config(9212, **override)


def test_data_time_round_trip_and_errors():
    assert data_time(T0, "Asia/Shanghai") == "20260101160000"
    assert parse_data_time("20260101160000", "Asia/Shanghai") == T0
    with pytest.raises(ValueError, match="BeginTime: expected YYYYMMDDhhmmss"):
        parse_data_time("2026-01-01", "Asia/Shanghai", field="BeginTime")


def test_packer_splits_long_cp_with_own_qns(tmp_path):
    cfg = hj_config(9212, codes={f"v{i}_x": FactorCode(code=f"a9{i:04d}") for i in range(40)})
    values = {f"v{i}_x": (1.0 + i, 0.5, 2.0 + i) for i in range(40)}
    parts = aggregate_cp([_dict(sensor_summary(T0, values=values))], cfg, T0)
    clock = QnClock(cfg.timezone)
    packets = Packer(cfg, clock).packets(CN.MINUTE, parts, ack=True)
    assert len(packets) >= 3
    decoded = [decode_packet(p.packet) for p in packets]
    assert [d.pno for d in decoded] == list(range(1, len(packets) + 1))
    assert {d.pnum for d in decoded} == {len(packets)} and all(d.flag == 7 for d in decoded)
    qns = [d.qn for d in decoded]
    assert len(set(qns)) == len(qns) and qns == sorted(qns)
    assert clock.next() > qns[-1]  # the clock skipped the parts' QNs
    assert all(d.cp.get("DataTime") == "20260101160000" for d in decoded)
    assert sum(len(d.cp.factors) for d in decoded) == 40


def _producer(path, cfg: Hj212Config) -> tuple[Hj212Queue, Producer]:
    q = Hj212Queue(path)
    clock = QnClock(cfg.timezone, int(q.get_state("last_qn_ms", "0")))
    return q, Producer(cfg, q, Packer(cfg, clock))


def _queued(q: Hj212Queue) -> list[tuple[str, str]]:
    return [tuple(r) for r in q.db.execute("SELECT cn, data_time FROM hj212_queue ORDER BY id")]


def test_periods_close_after_grace_and_survive_restart(tmp_path):
    db = tmp_path / "carbonedge.sqlite"
    write(db, [sensor_summary(T0 + 60 * i) for i in range(3)])
    cfg = hj_config(9212, close_grace_s=10.0)
    q, producer = _producer(db, cfg)
    producer.poll(T0 + 60 + 5)  # minute 0 ended, but its grace has not passed
    assert _queued(q) == []
    producer.poll(T0 + 60 + 10)
    assert _queued(q) == [(CN.MINUTE, "20260101160000")]
    producer.poll(T0 + 3 * 60 + 10)
    q.close()
    q, producer = _producer(db, cfg)  # a restart neither repeats nor loses a period
    producer.poll(T0 + 3 * 60 + 10)
    write(db, [sensor_summary(T0 + 3600)])  # the next hour begins: hour 16 can close
    producer.poll(T0 + 3600 + 10)
    assert _queued(q) == [
        (CN.MINUTE, "20260101160000"), (CN.MINUTE, "20260101160100"),
        (CN.MINUTE, "20260101160200"), (CN.HOUR, "20260101160000"),
    ]  # fmt: skip
    producer.poll(T0 + 86400 + 10)  # the day (local) and hour 17 close
    assert _queued(q)[-3:] == [
        (CN.MINUTE, "20260101170000"), (CN.HOUR, "20260101170000"), (CN.DAY, "20260101000000"),
    ]  # fmt: skip
    day = decode_packet(q.db.execute("SELECT packet FROM hj212_queue WHERE cn = '2031'")
                        .fetchone()[0].encode())  # fmt: skip
    assert (day.mn, day.pw, day.st, day.flag) == (MN, PW, "22", 5)
    assert day.cp.factors["a34004"]["Avg"] == "25.0"
    q.close()


def test_replayed_data_closes_periods_as_its_sources_move_on(tmp_path):
    """Footage from the past: the wall clock says every period ended long ago, yet a minute
    waits until its sources stored summaries reaching its end (or went quiet)."""
    db = tmp_path / "carbonedge.sqlite"
    now = T0 + 30 * 86400
    cfg = hj_config(9212, close_grace_s=5.0)
    q, producer = _producer(db, cfg)
    quarter = [sensor_summary(T0 + 15 * i, interval_s=15.0) for i in range(6)]
    write(db, quarter[:2])
    producer.poll(now)
    assert _queued(q) == []  # the source is only half-way through minute 16:00
    write(db, quarter[2:5])
    producer.poll(now + 1)
    assert _queued(q) == [(CN.MINUTE, "20260101160000")]  # its rows reached 16:01
    minute = decode_packet(q.db.execute("SELECT packet FROM hj212_queue").fetchone()[0].encode())
    assert minute.cp.factors["a34004"]["Min"] == "20.0"
    write(db, quarter[5:])
    producer.poll(now + 2)
    assert len(_queued(q)) == 1  # 16:01 is open until the source moves on or goes quiet
    producer.poll(now + 8)  # quiet for 5 s: the replay ended
    assert _queued(q)[1:] == [
        (CN.MINUTE, "20260101160100"), (CN.HOUR, "20260101160000"), (CN.DAY, "20260101000000"),
    ]  # fmt: skip
    write(db, [sensor_summary(T0 + 120)])  # a later restart replays on: no minute repeats,
    producer.poll(now + 20)  # the hour and day queued without 16:02 are re-queued with it
    assert _queued(q)[4:] == [
        (CN.MINUTE, "20260101160200"), (CN.HOUR, "20260101160000"), (CN.DAY, "20260101000000"),
    ]  # fmt: skip
    q.close()


def test_a_period_without_coded_values_sends_nothing(tmp_path):
    from carbonedge.runtime.base.events import IntervalSummary

    db = tmp_path / "carbonedge.sqlite"
    fire = IntervalSummary(device_id="box-17", source_id="tower", seq=0, interval_start_s=T0,
                           interval_end_s=T0 + 60, counts={}, frames=900, detector="fire",
                           sections={"fire": {"alarm": False}})  # fmt: skip
    odd = sensor_summary(T0, source_id="x", sensor_type="modbus", values={"flux_au": (1, 0, 2)})
    write(db, [fire, odd])
    q, producer = _producer(db, hj_config(9212, hourly=False, daily=False))
    producer.poll(T0 + 120)
    assert _queued(q) == [] and q.is_done(CN.MINUTE, "20260101160000")
    q.close()


def test_vehicle_counts_are_line_crossings_not_vehicles_seen():
    """Issue 28 item 7: a vehicle seen in two intervals is one vehicle; the count is the line
    crossings (each once, on every line or the configured ``vehicle_lines``)."""
    first = traffic_summary(
        T0,
        vehicles={"car": 3, "truck": 1},
        crossings={
            "main": {"in": {"car": 2}, "out": {"truck": 1}},
            "exit": {"in": {"car": 1}, "out": {}},
        },
    )
    # the truck and one car are still in view in the next interval: seen again, no new crossing
    second = traffic_summary(T0 + 60, vehicles={"car": 2, "truck": 1}, crossings={
        "main": {"in": {"car": 1}, "out": {}}, "exit": {"in": {}, "out": {}}})  # fmt: skip
    summaries = [_dict(first), _dict(second)]
    _, factors = aggregate_cp(summaries, CFG, T0)
    assert factors["ce1000"]["Cou"] == "5"  # 5 crossings; 7 vehicles seen over the intervals
    assert factors["ce1001"]["Cou"] == "4" and factors["ce1004"]["Cou"] == "1"
    _, factors = aggregate_cp(summaries, hj_config(9212, vehicle_lines=["main"]), T0)
    assert factors["ce1000"]["Cou"] == "4"
    no_lines = _dict(traffic_summary(T0, crossings={}))  # cannot count: no -Cou for vehicles
    _, factors = aggregate_cp([no_lines], CFG, T0)
    assert "ce1000" not in factors and "ce1001" not in factors and "ce2001" in factors


def _latest_cou(q: Hj212Queue, cn: str) -> dict[str, int]:
    """DataTime -> ce1000 of the latest packet per period (a correction replaces its period)."""
    out: dict[str, int] = {}
    for (raw,) in q.db.execute("SELECT packet FROM hj212_queue WHERE cn = ? ORDER BY id", (cn,)):
        p = decode_packet(raw.encode())
        out[p.cp.get("DataTime")] = int(p.cp.factors["ce1000"]["Cou"])
    return out


def test_late_summaries_reach_their_minute_hour_and_day(tmp_path):
    """Issue 28 item 7: with ``close_grace_s: 2`` a camera summary stored 5 s after its minute
    ended still counts: a minute waits for every known camera while its summary is not overdue,
    and a summary later than that re-queues its minute (and its hour and day once queued)."""
    db = tmp_path / "carbonedge.sqlite"
    q, producer = _producer(db, hj_config(9212, close_grace_s=2.0))
    producer.poll(T0 - 30)  # the link runs before the cameras' first summaries

    def cam(source: str, start_s: float, n: int):
        return traffic_summary(start_s, source_id=source, vehicles={"car": n})

    write(db, [cam("a", T0, 3), cam("b", T0, 4)])
    producer.poll(T0 + 61)
    producer.poll(T0 + 63)
    assert _latest_cou(q, CN.MINUTE) == {"20260101160000": 7}
    write(db, [cam("a", T0 + 60, 2)])
    producer.poll(T0 + 121)
    producer.poll(T0 + 122)  # b is 1 s behind its cadence: within the grace, waited for
    assert len(_latest_cou(q, CN.MINUTE)) == 1
    producer.poll(T0 + 123)  # b overdue by the grace: 16:01 goes with a's summary
    assert _latest_cou(q, CN.MINUTE)["20260101160100"] == 2
    write(db, [cam("b", T0 + 60, 5)])  # stored 5 s after 16:01 ended
    producer.poll(T0 + 125)
    assert _latest_cou(q, CN.MINUTE)["20260101160100"] == 7  # corrected: same DataTime, new QN
    write(db, [cam("a", T0 + 3600, 1), cam("b", T0 + 3600, 1)])
    producer.poll(T0 + 3663)
    assert _latest_cou(q, CN.HOUR) == {"20260101160000": 14}
    write(db, [cam("c", T0 + 1800, 6)])  # a third camera's backlog: hour 16 was queued
    producer.poll(T0 + 3700)
    assert _latest_cou(q, CN.HOUR) == {"20260101160000": 20}
    write(db, [cam(s, T0 + 8 * 3600, 0) for s in "abc"])  # 00:00 local: the day can close
    producer.poll(T0 + 8 * 3600 + 63)
    write(db, [cam("b", T0 + 7 * 3600, 9)])  # hour 23, stored after the day was queued
    producer.poll(T0 + 8 * 3600 + 70)
    minutes, hours = _latest_cou(q, CN.MINUTE), _latest_cou(q, CN.HOUR)
    crossings = 3 + 4 + 2 + 5 + 1 + 1 + 6 + 9
    assert sum(minutes.values()) == crossings  # every crossing in exactly one minute
    assert sum(hours.values()) == crossings and hours["20260101230000"] == 9
    assert _latest_cou(q, CN.DAY) == {"20260101000000": crossings}
    assert producer.corrections >= 3 and producer.late_summaries >= 1
    q.close()


def test_road_v1_lorries_count_as_trucks_and_people_are_not_vehicles():
    s = traffic_summary(T0, vehicles={"hgv": 1}, crossings={
        "main": {"in": {"car": 2, "hgv": 1, "pedestrian": 4}, "out": {"bicycle": 3}}})  # fmt: skip
    _, factors = aggregate_cp([_dict(s)], CFG, T0)
    assert factors["ce1000"]["Cou"] == "3"  # two cars and a lorry; walkers and cyclists are not
    assert factors["ce1004"]["Cou"] == "1"

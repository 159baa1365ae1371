"""The HJ 212 link against our test platform over real TCP on loopback, with a real SQLite store."""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import yaml
from conftest import REPO_ROOT
from hj212_rig import (  # noqa: F401 - the platform fixture
    MN,
    PW,
    T0,
    data_times,
    hj_config,
    platform,
    sensor_summary,
    traffic_summary,
    write,
)
from rigs import free_port, stop_process, wait_for_port

from carbonedge.runtime.uplink.hj212.codec import CN
from carbonedge.runtime.uplink.hj212.link import Hj212Link
from carbonedge.runtime.uplink.hj212.platform import Hj212Platform
from carbonedge.runtime.uplink.hj212.uploads import data_time

MINUTES = [data_time(T0 + 60 * i, "Asia/Shanghai") for i in range(12)]


def wait_until(predicate, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def queued(db) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM hj212_queue").fetchone()[0]


def test_uploads_are_acknowledged_and_leave_the_queue(platform, tmp_path):
    db = tmp_path / "carbonedge.sqlite"
    write(db, [sensor_summary(T0 + 60 * i) for i in range(3)] + [traffic_summary(T0)])
    link = Hj212Link(hj_config(platform.port), sqlite_path=db).start()
    try:
        assert wait_until(lambda: link.counters["acked"] == 5), link.stats()
    finally:
        stats = link.stop()
    got = platform.packets()
    assert [p.cn for p in got] == [CN.MINUTE] * 3 + [CN.HOUR, CN.DAY]
    assert data_times(got, CN.MINUTE) == MINUTES[:3]
    assert data_times(got, CN.HOUR) == ["20260101160000"]
    assert data_times(got, CN.DAY) == ["20260101000000"]
    assert all(p.needs_ack and p.version == "2017" for p in got) and platform.errors() == []
    assert got[0].cp.factors["a34004"]["Avg"] == "25.0" and got[0].cp.factors["ce1000"]["Cou"]
    assert stats["queued"] == 0 and stats["resent"] == 0 and stats["link_failures"] == 0


def test_late_answers_are_waited_for_with_the_configured_resends(platform, tmp_path):
    db = tmp_path / "carbonedge.sqlite"
    write(db, [sensor_summary(T0 + 60 * i) for i in range(3)])
    platform.ack_delay_s = 1.5  # each 9014 comes 1.5 s late; the box waits 1.0 s per try
    cfg = hj_config(platform.port, overtime_s=1.0, retries=2, hourly=False, daily=False)
    link = Hj212Link(cfg, sqlite_path=db).start()
    try:
        assert wait_until(lambda: link.counters["acked"] == 3, 20), link.stats()
    finally:
        stats = link.stop()
    copies = Counter(p.qn for p in platform.packets(CN.MINUTE))
    assert sorted(copies.values()) == [2, 2, 2]  # sent, re-sent after 1.0 s, answered at 1.5 s
    assert stats["resent"] == 3 and stats["link_failures"] == 0 and stats["queued"] == 0


def test_unanswered_upload_gives_the_link_up_after_recount(platform, tmp_path):
    db = tmp_path / "carbonedge.sqlite"
    write(db, [sensor_summary(T0)])
    platform.ack = False
    cfg = hj_config(platform.port, overtime_s=0.3, retries=2, hourly=False, daily=False)
    link = Hj212Link(cfg, sqlite_path=db).start()
    try:
        assert wait_until(lambda: platform.connections >= 2), link.stats()
        first_peer = platform.received[0].peer
        on_first = [r for r in platform.received if r.peer == first_peer]
        assert len(on_first) == 3  # 1 send + ReCount 2 re-sends, then the link is unavailable
        assert len({r.packet.qn for r in on_first}) == 1
        platform.ack = True
        assert wait_until(lambda: link.counters["acked"] == 1), link.stats()
    finally:
        stats = link.stop()
    assert stats["link_failures"] >= 1 and stats["queued"] == 0


def test_outage_backlog_arrives_in_order_none_lost_none_duplicated(tmp_path):
    db = tmp_path / "carbonedge.sqlite"
    port = free_port()  # nothing listens yet: the platform is down
    cfg = hj_config(port, hourly=False, daily=False)
    write(db, [sensor_summary(T0 + 60 * i) for i in range(5)])
    link = Hj212Link(cfg, sqlite_path=db).start()
    assert wait_until(lambda: queued(db) == 5)
    assert link.stop()["connects"] == 0
    write(db, [sensor_summary(T0 + 60 * i) for i in range(5, 8)])  # the box restarted meanwhile
    link = Hj212Link(cfg, sqlite_path=db).start()
    received = []
    try:
        assert wait_until(lambda: queued(db) == 8)
        first = Hj212Platform("127.0.0.1", port).start()  # the platform is back
        assert first.wait_for(lambda: len(first.packets()) >= 8, 15)
        assert wait_until(lambda: queued(db) == 0)
        first.stop()  # down again
        received += first.packets()
        write(db, [sensor_summary(T0 + 60 * i) for i in range(8, 12)])
        assert wait_until(lambda: queued(db) == 4)
        second = Hj212Platform("127.0.0.1", port).start()
        assert second.wait_for(lambda: len(second.packets()) >= 4, 15)
        assert wait_until(lambda: queued(db) == 0)
        second.stop()
        received += second.packets()
    finally:
        link.stop()
    unique = list(dict.fromkeys((p.qn, p.cp.get("DataTime")) for p in received))
    assert [dt for _, dt in unique] == MINUTES  # in order, none lost, no period twice
    qns = [qn for qn, _ in unique]
    assert qns == sorted(qns) and len(set(qns)) == 12
    assert len(received) - len(unique) <= 1  # a repeat only if the platform died mid-answer


def test_history_reupload_is_served_from_the_store(platform, tmp_path):
    db = tmp_path / "carbonedge.sqlite"
    write(db, [sensor_summary(T0 + 60 * i) for i in range(5)] + [traffic_summary(T0 + 60)])
    link = Hj212Link(hj_config(platform.port, hourly=False, daily=False), sqlite_path=db).start()
    try:
        assert wait_until(lambda: link.counters["acked"] == 5), link.stats()
        n = len(platform.packets())
        qn = platform.send_request(
            CN.MINUTE, [("BeginTime", "20260101160100"), ("EndTime", "20260101160300")]
        )
        assert platform.wait_for(lambda: any(p.qn == qn for p in platform.packets("9012")), 10)
        answer = platform.packets()[n:]
        assert [p.cn for p in answer] == ["9011", "2051", "2051", "2051", "9012"]
        assert answer[0].qn == qn and answer[0].st == "91" and answer[0].cp.get("QnRtn") == "1"
        assert [p.cp.get("DataTime") for p in answer[1:4]] == MINUTES[1:4]
        assert answer[1].cp.factors["ce1001"]["Cou"] == "12"  # the camera minute is in it
        assert all(p.qn != qn for p in answer[1:4]) and answer[4].cp.get("ExeRtn") == "1"
        qn = platform.send_request(CN.HOUR, [("BeginTime", "20260101160000"),
                                             ("EndTime", "20260101160000")])  # fmt: skip
        assert platform.wait_for(lambda: any(p.qn == qn for p in platform.packets("9012")), 10)
        hour = platform.packets(CN.HOUR)[-1]
        assert hour.cp.get("DataTime") == "20260101160000"
        assert hour.cp.factors["a34004"]["Avg"] == "25.0"
        qn = platform.send_request(CN.MINUTE, [("BeginTime", "20250101000000"),
                                               ("EndTime", "20250101010000")])  # fmt: skip
        assert platform.wait_for(lambda: any(p.qn == qn for p in platform.packets("9012")), 10)
        assert platform.packets("9012")[-1].cp.get("ExeRtn") == "100"  # no data
    finally:
        link.stop()


def _exchange(platform, cn, items, **kw):
    """Send a request; return the box's answers under its QN once 9012 (or a refusal) came."""
    qn = platform.send_request(cn, items, **kw)

    def done():
        answers = [p for p in platform.packets() if p.qn == qn]
        refused = any(p.cn == "9011" and p.cp.get("QnRtn") != "1" for p in answers)
        return refused or any(p.cn == "9012" for p in answers)

    assert platform.wait_for(done, 10), platform.received[-3:]
    return [p for p in platform.packets() if p.qn == qn]


def test_platform_sets_time_timeout_and_interval(platform, tmp_path):
    db = tmp_path / "carbonedge.sqlite"
    link = Hj212Link(hj_config(platform.port), sqlite_path=db).start()
    try:
        assert platform.wait_for(lambda: platform.connections == 1, 10)
        ahead = data_time(time.time() + 3600, "Asia/Shanghai")
        answers = _exchange(platform, CN.SET_TIME, [("SystemTime", ahead)], mn=MN)
        assert [(p.cn, p.cp.items) for p in answers] == [
            ("9011", [("QnRtn", "1")]), ("9012", [("ExeRtn", "1")])]  # fmt: skip
        assert abs(link.time_offset_s - 3600) < 5
        answers = _exchange(platform, CN.GET_TIME, [], mn=MN)
        assert [p.cn for p in answers] == ["9011", "1011", "9012"]
        box_time = answers[1].cp.get("SystemTime")
        assert abs(int(box_time[8:10]) * 60 + int(box_time[10:12])
                   - (int(ahead[8:10]) * 60 + int(ahead[10:12]))) % 1440 <= 1  # fmt: skip
        _exchange(platform, CN.SET_TIMEOUT_RETRY, [("OverTime", "7"), ("ReCount", "5")], mn=MN)
        assert (link.overtime_s, link.retries) == (7.0, 5)
        _exchange(platform, CN.SET_RTD_INTERVAL, [("RtdInterval", "45")], mn=MN)
        answers = _exchange(platform, CN.GET_RTD_INTERVAL, [], mn=MN)
        assert answers[1].cp.get("RtdInterval") == "45"
        answers = _exchange(platform, CN.SET_RTD_INTERVAL, [("RtdInterval", "5")], mn=MN)
        assert answers[-1].cp.get("ExeRtn") == "3"  # 30-3600 s only
        answers = _exchange(platform, CN.SET_TIME, [("SystemTime", "2026")], mn=MN)
        assert answers[-1].cp.get("ExeRtn") == "3"
        answers = _exchange(platform, CN.GET_TIME, [], mn=MN, pw="654321")
        assert [(p.cn, p.cp.get("QnRtn")) for p in answers] == [("9011", "3")]  # PW error
        answers = _exchange(platform, CN.FIELD_INFO, [], mn=MN)
        assert [(p.cn, p.cp.get("QnRtn")) for p in answers] == [("9011", "2")]  # not served
        answers = _exchange(platform, "4321", [], mn=MN)
        assert [(p.cn, p.cp.get("QnRtn")) for p in answers] == [("9011", "8")]  # no such CN
        good = platform.reply(answers[0], CN.GET_TIME)
        bad_crc = good[:-6] + (b"0000" if good[-6:-2] != b"0000" else b"FFFF") + b"\r\n"
        platform.send_raw(b"noise##12x" + bad_crc)  # garbage, then a packet with a wrong CRC
        assert wait_until(lambda: link.counters["bad_packets"] >= 2), link.counters
        answers = _exchange(platform, CN.GET_RTD_INTERVAL, [], mn=MN)  # the link goes on
        assert answers[-1].cp.get("ExeRtn") == "1" and link.counters["requests"] == 11
    finally:
        link.stop()
    again = Hj212Link(hj_config(platform.port), sqlite_path=db)  # the settings were kept
    assert (again.overtime_s, again.retries, again.realtime_interval_s) == (7.0, 5, 45.0)
    assert abs(again.time_offset_s - 3600) < 5
    again.queue.close()


def test_realtime_values_carry_the_live_device_state(platform, tmp_path):
    db = tmp_path / "carbonedge.sqlite"
    now = time.time()
    write(db, [sensor_summary(now - 70), sensor_summary(now - 200, source_id="old")])
    cfg = hj_config(platform.port, realtime=True, realtime_interval_s=1, hourly=False,
                    daily=False, close_grace_s=3600)  # fmt: skip
    link = Hj212Link(cfg, sqlite_path=db, states=lambda: {"pm": "calibrating"}).start()
    try:
        assert platform.wait_for(lambda: len(platform.packets(CN.REALTIME)) >= 2, 10)
    finally:
        link.stop()
    rt = platform.packets(CN.REALTIME)[0]
    assert rt.cp.factors["a34004"] == {"Rtd": "25.0", "Flag": "C"}
    assert set(rt.cp.factors) == {"a34002", "a34004"}  # the stale sensor is left out
    assert platform.packets(CN.MINUTE) == []  # minute not closed (grace 1 h)


def test_listen_command_logs_validates_and_answers(tmp_path):
    port, log = free_port(), tmp_path / "platform.jsonl"
    cmd = [sys.executable, "-m", "carbonedge.runtime.cli", "hj212", "listen", "--port", str(port),
           "--ack", "--log", str(log)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    db = tmp_path / "carbonedge.sqlite"
    write(db, [sensor_summary(T0)])
    try:
        wait_for_port(port, 20, proc)
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"garbage##0010QN=1\r\n")
        link = Hj212Link(hj_config(port, hourly=False, daily=False), sqlite_path=db).start()
        try:
            assert wait_until(lambda: link.counters["acked"] == 1), link.stats()
        finally:
            link.stop()
    finally:
        stop_process(proc)
    out = proc.stdout.read()
    assert f"listening on 127.0.0.1:{port}" in out and "ok  CN=2051" in out and "BAD" in out
    total, invalid = map(int, re.search(r"(\d+) packets, (\d+) invalid", out).groups())
    assert total - invalid == 1 and invalid >= 1
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    good = [r for r in lines if r["ok"]]
    assert len(good) == 1 and good[0]["cn"] == "2051" and good[0]["raw"].startswith("##")
    assert any(not r["ok"] and r["error"] for r in lines)
    assert PW in good[0]["raw"]


def test_carbonedge_run_sends_closed_minutes_to_the_platform(platform, tmp_path):
    """The ``hj212:`` section in a site config: ``carbonedge run`` starts the link."""
    site = yaml.safe_load((REPO_ROOT / "runtime/examples/synthetic.yaml").read_text())
    site["cameras"]["road"]["source"] = {"type": "synthetic", "duration_s": 70, "fps": 3,
                                         "seed": 7}  # fmt: skip
    site["summary"] = {"interval_s": 30}
    site["health"] = {"port": 0}
    site["output"] = {"sqlite_path": str(tmp_path / "site.sqlite"), "jsonl_path": None}
    site["hj212"] = {"host": "127.0.0.1", "port": platform.port, "mn": MN, "pw": PW,
                     "close_grace_s": 1, "poll_s": 0.1, "realtime": False}  # fmt: skip
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(site))
    run = subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", "run", str(config)],
                         capture_output=True, text=True, timeout=180)  # fmt: skip
    assert run.returncode == 0, run.stderr
    minutes = platform.packets(CN.MINUTE)
    # 08:00-08:01 UTC closed when the 30 s summaries reached 08:01; 08:01 was still open at exit
    assert [p.cp.get("DataTime") for p in minutes] == ["20260101160000"]
    factors = minutes[0].cp.factors
    assert int(factors["ce1000"]["Cou"]) > 0 and float(factors["ce2001"]["Cou"]) > 0
    assert platform.errors() == []
    with sqlite3.connect(tmp_path / "site.sqlite") as db:  # the open minute waits in the store
        assert db.execute("SELECT COUNT(*) FROM hj212_queue").fetchone()[0] == 0
        assert db.execute("SELECT value FROM hj212_state WHERE name = 'summary_rowid'").fetchone()


def test_replayed_run_totals_equal_line_crossings(platform, tmp_path):
    """Issue 28 item 7, end to end: a replayed synthetic scene through ``carbonedge run`` with
    20 s summaries (vehicles are seen in several intervals), the link restarted after the run to
    close the last periods: the platform's minute, hour and day ``ce1000`` totals (the latest
    packet per DataTime) all equal the sum of the stored line crossings."""
    site = yaml.safe_load((REPO_ROOT / "runtime/examples/synthetic.yaml").read_text())
    site["cameras"]["road"]["source"] = {"type": "synthetic", "duration_s": 130, "fps": 3,
                                         "seed": 7}  # fmt: skip
    site.pop("emissions")  # vehicle counts only (emissions reject a stopped van's 0 km/h)
    site["summary"] = {"interval_s": 20}
    site["health"] = {"port": 0}
    site["output"] = {"sqlite_path": str(tmp_path / "site.sqlite"), "jsonl_path": None}
    hj = {"host": "127.0.0.1", "port": platform.port, "mn": MN, "pw": PW, "close_grace_s": 1,
          "poll_s": 0.1, "realtime": False}  # fmt: skip
    site["hj212"] = hj
    config = tmp_path / "site.yaml"
    config.write_text(yaml.safe_dump(site))
    run = subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", "run", str(config)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    link = Hj212Link(hj_config(platform.port, close_grace_s=1.0),
                     sqlite_path=tmp_path / "site.sqlite").start()  # fmt: skip

    def all_sent() -> bool:  # every stored summary packed and every packet answered
        with sqlite3.connect(tmp_path / "site.sqlite") as db:
            (last,) = db.execute("SELECT MAX(rowid) FROM summaries").fetchone()
            cursor = db.execute("SELECT value FROM hj212_state WHERE name = 'summary_rowid'")
            return int(cursor.fetchone()[0]) == last and link.backlog() == 0

    try:  # the replay is over: its last minute, the hour and the day close now
        assert wait_until(all_sent)
    finally:
        link.stop()
    with sqlite3.connect(tmp_path / "site.sqlite") as db:
        bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM summaries")]
    crossings = sum(n for b in bodies for by_dir in b["counts"].values()
                    for by_class in by_dir.values() for n in by_class.values())  # fmt: skip
    seen = sum(t["vehicles"] for b in bodies for t in (b.get("traffic") or {}).values())
    totals = {}
    for cn in (CN.MINUTE, CN.HOUR, CN.DAY):
        latest = {p.cp.get("DataTime"): int(p.cp.factors["ce1000"]["Cou"])
                  for p in platform.packets(cn)}  # fmt: skip
        totals[cn] = sum(latest.values())
    assert crossings > 0 and seen > crossings  # the old count ("vehicles seen") was too high
    assert totals == {CN.MINUTE: crossings, CN.HOUR: crossings, CN.DAY: crossings}, (seen, totals)
    assert platform.errors() == []

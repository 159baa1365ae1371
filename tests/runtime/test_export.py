"""``carbonedge export``: line crossings per local-clock period as CSV / JSON / emissions CSV."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from carbonedge.runtime import cli, export
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.store import Store

# (UTC time, camera, line, direction, class)
Row = tuple[str, str, str, str, str]


def make_store(path: Path, rows: list[Row]) -> Path:
    """A store holding exactly ``rows`` as line crossings, written through the store API."""
    events = [
        LineCrossed(device_id="box", source_id=camera, line_id=line, tracker_id=i,
                    direction=direction, class_name=name, frame_index=i,
                    t_wall_s=datetime.fromisoformat(t_utc + "+00:00").timestamp())
        for i, (t_utc, camera, line, direction, name) in enumerate(rows)
    ]  # fmt: skip
    with Store(path, uplink=False) as store:
        store.write_events(events)
    return path


def run_export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(["export", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def counts(text: str, cls: str = "total") -> dict[str, int]:
    """period_start -> count of ``cls`` (summed over cameras, lines, directions)."""
    out: dict[str, int] = {}
    for r in csv_rows(text):
        if r["class"] == cls:
            out[r["period_start"]] = out.get(r["period_start"], 0) + int(r["count"])
    return out


QUARTER = [  # UTC; Asia/Kolkata is +05:30, so 03:29:59Z is 08:59:59 and 03:30Z is 09:00 local
    ("2026-01-01T07:59:59", "cam", "l", "in", "car"),
    ("2026-01-01T08:00:00", "cam", "l", "in", "car"),
    ("2026-01-01T08:14:59", "cam", "l", "out", "bus"),
    ("2026-01-01T08:15:00", "cam", "l", "in", "car"),
    ("2026-01-01T08:59:59", "cam", "l", "in", "pedestrian"),
    ("2026-01-01T09:00:00", "cam", "l", "in", "hgv"),
]


@pytest.mark.parametrize(
    ("period", "zone", "expected"),
    [
        ("15min", "UTC", {"2026-01-01T07:45:00+00:00": 1, "2026-01-01T08:00:00+00:00": 2,
                          "2026-01-01T08:15:00+00:00": 1, "2026-01-01T08:45:00+00:00": 1,
                          "2026-01-01T09:00:00+00:00": 1}),
        ("1h", "UTC", {"2026-01-01T07:00:00+00:00": 1, "2026-01-01T08:00:00+00:00": 4,
                       "2026-01-01T09:00:00+00:00": 1}),
        ("30", "UTC", {"2026-01-01T07:30:00+00:00": 1, "2026-01-01T08:00:00+00:00": 3,
                       "2026-01-01T08:30:00+00:00": 1, "2026-01-01T09:00:00+00:00": 1}),
        ("1d", "UTC", {"2026-01-01T00:00:00+00:00": 6}),
        # a non-hour offset: hours start at :30 UTC
        ("1h", "Asia/Kolkata", {"2026-01-01T13:00:00+05:30": 4, "2026-01-01T14:00:00+05:30": 2}),
        ("15min", "Asia/Kolkata", {"2026-01-01T13:15:00+05:30": 1,
                                   "2026-01-01T13:30:00+05:30": 2,
                                   "2026-01-01T13:45:00+05:30": 1,
                                   "2026-01-01T14:15:00+05:30": 1,
                                   "2026-01-01T14:30:00+05:30": 1}),
    ],
)  # fmt: skip
def test_binning_per_local_period(tmp_path, capsys, period, zone, expected) -> None:
    store = make_store(tmp_path / "s.sqlite", QUARTER)
    code, out, err = run_export(capsys, str(store), "--period", period, "--tz", zone)
    assert (code, err) == (0, "")
    assert counts(out) == expected


def test_kolkata_hours_start_at_half_past_utc(tmp_path, capsys) -> None:
    store = make_store(tmp_path / "s.sqlite", [
        ("2026-01-01T03:29:59", "cam", "l", "in", "car"),   # 08:59:59 local
        ("2026-01-01T03:30:00", "cam", "l", "in", "car"),   # 09:00:00 local
        ("2026-01-01T04:29:59", "cam", "l", "in", "car"),   # 09:59:59 local
    ])  # fmt: skip
    code, out, _ = run_export(capsys, str(store), "--period", "1h", "--tz", "Asia/Kolkata")
    assert code == 0
    rows = [r for r in csv_rows(out) if r["class"] == "total"]
    assert [(r["period_start"], r["period_end"], r["count"]) for r in rows] == [
        ("2026-01-01T08:00:00+05:30", "2026-01-01T09:00:00+05:30", "1"),
        ("2026-01-01T09:00:00+05:30", "2026-01-01T10:00:00+05:30", "2"),
    ]


LONDON_SPRING = [  # 2026-03-29: 01:00 GMT becomes 02:00 BST (01:00Z)
    ("2026-03-28T23:59:59", "cam", "l", "in", "car"),  # the day before
    ("2026-03-29T00:30:00", "cam", "l", "in", "car"),  # 00:30 GMT
    ("2026-03-29T00:59:59", "cam", "l", "in", "van"),  # 00:59:59 GMT
    ("2026-03-29T01:00:00", "cam", "l", "in", "car"),  # 02:00 BST
    ("2026-03-29T22:59:59", "cam", "l", "in", "car"),  # 23:59:59 BST: still the 29th
    ("2026-03-29T23:00:00", "cam", "l", "in", "car"),  # 00:00 BST on the 30th
]


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ("1h", [("2026-03-28T23:00:00+00:00", "2026-03-29T00:00:00+00:00", 1),
                # the 01:00 hour does not exist: 00:00 GMT is followed by 02:00 BST
                ("2026-03-29T00:00:00+00:00", "2026-03-29T02:00:00+01:00", 2),
                ("2026-03-29T02:00:00+01:00", "2026-03-29T03:00:00+01:00", 1),
                ("2026-03-29T23:00:00+01:00", "2026-03-30T00:00:00+01:00", 1),
                ("2026-03-30T00:00:00+01:00", "2026-03-30T01:00:00+01:00", 1)]),
        ("15min", [("2026-03-28T23:45:00+00:00", "2026-03-29T00:00:00+00:00", 1),
                   ("2026-03-29T00:30:00+00:00", "2026-03-29T00:45:00+00:00", 1),
                   ("2026-03-29T00:45:00+00:00", "2026-03-29T02:00:00+01:00", 1),
                   ("2026-03-29T02:00:00+01:00", "2026-03-29T02:15:00+01:00", 1),
                   ("2026-03-29T23:45:00+01:00", "2026-03-30T00:00:00+01:00", 1),
                   ("2026-03-30T00:00:00+01:00", "2026-03-30T00:15:00+01:00", 1)]),
        # a 23-hour day
        ("1d", [("2026-03-28T00:00:00+00:00", "2026-03-29T00:00:00+00:00", 1),
                ("2026-03-29T00:00:00+00:00", "2026-03-30T00:00:00+01:00", 4),
                ("2026-03-30T00:00:00+01:00", "2026-03-31T00:00:00+01:00", 1)]),
    ],
)  # fmt: skip
def test_dst_day_europe_london(tmp_path, capsys, period, expected) -> None:
    store = make_store(tmp_path / "s.sqlite", LONDON_SPRING)
    code, out, _ = run_export(capsys, str(store), "--period", period, "--tz", "Europe/London")
    assert code == 0
    rows = [r for r in csv_rows(out) if r["class"] == "total"]
    assert [(r["period_start"], r["period_end"], int(r["count"])) for r in rows] == expected


def test_fall_back_night_has_two_0100_hours() -> None:
    zone = export.resolve_zone("Europe/London")  # 2026-10-25: 02:00 BST becomes 01:00 GMT
    crossings = [export.Crossing(datetime.fromisoformat(t).timestamp(), "cam", "l", "in", "car")
                 for t in ("2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00")]  # fmt: skip
    rows = export.table_rows(export.count_table(crossings, period="1h", zone=zone))
    assert [(r["period_start"], r["period_end"]) for r in rows if r["class"] == "total"] == [
        ("2026-10-25T01:00:00+01:00", "2026-10-25T01:00:00+00:00"),
        ("2026-10-25T01:00:00+00:00", "2026-10-25T02:00:00+00:00"),
    ]
    day = export.count_table(crossings, period="1d", zone=zone)
    (start_s,) = day.period_end_s
    assert day.period_end_s[start_s] - start_s == 25 * 3600  # a 25-hour day


def test_csv_header_rows_and_utf8_file(tmp_path, capsys) -> None:
    store = make_store(tmp_path / "s.sqlite", [
        ("2026-05-01T00:01:00", "东门", "stop-line", "in", "car"),
        ("2026-05-01T00:02:00", "东门", "stop-line", "in", "car"),
        ("2026-05-01T00:03:00", "东门", "stop-line", "in", "bicycle"),
        ("2026-05-01T00:04:00", "东门", "stop-line", "out", "bus"),
        ("2026-05-01T00:20:00", "north", "a", "in", "motorcycle"),
    ])  # fmt: skip
    out_file = tmp_path / "counts.csv"
    code, out, err = run_export(capsys, str(store), "--tz", "Asia/Shanghai", "--out",
                                str(out_file))  # fmt: skip
    assert code == 0 and out == ""
    assert f"wrote {out_file}: 5 crossings in 2 periods of 15min (Asia/Shanghai)" in err
    raw = out_file.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")  # plain UTF-8, read by any CSV reader
    assert raw.decode("utf-8").splitlines() == [
        "period_start,period_end,camera,line,direction,class,count",
        "2026-05-01T08:00:00+08:00,2026-05-01T08:15:00+08:00,东门,stop-line,in,bicycle,1",
        "2026-05-01T08:00:00+08:00,2026-05-01T08:15:00+08:00,东门,stop-line,in,car,2",
        "2026-05-01T08:00:00+08:00,2026-05-01T08:15:00+08:00,东门,stop-line,in,total,3",
        "2026-05-01T08:00:00+08:00,2026-05-01T08:15:00+08:00,东门,stop-line,out,bus,1",
        "2026-05-01T08:00:00+08:00,2026-05-01T08:15:00+08:00,东门,stop-line,out,total,1",
        "2026-05-01T08:15:00+08:00,2026-05-01T08:30:00+08:00,north,a,in,motorcycle,1",
        "2026-05-01T08:15:00+08:00,2026-05-01T08:30:00+08:00,north,a,in,total,1",
    ]


def test_json_shape_range_and_store_totals(tmp_path, capsys) -> None:
    store = make_store(tmp_path / "s.sqlite", QUARTER)
    args = (str(store), "--period", "1h", "--tz", "UTC")
    _, csv_text, _ = run_export(capsys, *args, "--from", "2026-01-01T08:00", "--to",
                                "2026-01-01T09:00")  # fmt: skip
    code, out, _ = run_export(capsys, *args, "--format", "json", "--from", "2026-01-01T08:00",
                              "--to", "2026-01-01T09:00")  # fmt: skip
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"store", "period", "period_min", "time_zone", "from", "to", "crossings",
                        "skipped_rows", "columns", "rows", "store_totals"}  # fmt: skip
    assert doc["period"] == "1h" and doc["period_min"] == 60 and doc["time_zone"] == "UTC"
    assert (doc["from"], doc["to"]) == ("2026-01-01T08:00:00+00:00", "2026-01-01T09:00:00+00:00")
    assert doc["columns"] == list(export.COLUMNS)
    assert doc["crossings"] == 4 and doc["skipped_rows"] == 0
    # the rows are the CSV's, with integer counts
    assert doc["rows"] == [{**r, "count": int(r["count"])} for r in csv_rows(csv_text)]
    assert {(r["class"], r["count"]) for r in doc["rows"]} == {
        ("car", 2),
        ("pedestrian", 1),
        ("total", 3),
        ("bus", 1),
        ("total", 1),
    }
    # the whole store, whatever the range
    assert doc["store_totals"] == {"bus": 1, "car": 3, "hgv": 1, "pedestrian": 1, "total": 6}


def test_camera_and_line_filters(tmp_path, capsys) -> None:
    rows = [("2026-01-01T08:00:00", cam, line, "in", "car")
            for cam, line in (("a", "x"), ("a", "y"), ("b", "x"))]  # fmt: skip
    store = make_store(tmp_path / "s.sqlite", rows)
    _, out, _ = run_export(capsys, str(store), "--tz", "UTC", "--camera", "a", "--line", "y")
    assert [(r["camera"], r["line"]) for r in csv_rows(out)] == [("a", "y"), ("a", "y")]


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("15min", 15), ("1h", 60), ("1d", 1440), ("30", 30), ("5min", 5), ("2h", 120),
     ("7", None), ("0", None), ("25h", None), ("quarter", None), ("", None)],
)  # fmt: skip
def test_parse_period(text, minutes) -> None:
    if minutes is None:
        with pytest.raises(ConfigError, match=r"--period .*expected 15min, 1h, 1d"):
            export.parse_period(text)
    else:
        assert export.parse_period(text) == minutes


def test_default_zone_is_the_systems(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    assert export.zone_name(export.resolve_zone(None)) == "Asia/Kolkata"
    monkeypatch.delenv("TZ")
    assert export.resolve_zone(None).utcoffset(datetime(2026, 1, 1)) is not None


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["{missing}"], ["missing.sqlite: no such store file"]),
        (["{text}"], ["notes.txt: not a readable carbonedge store"]),
        (["{store}", "--period", "7min"], ["--period '7min'", "15min, 1h, 1d"]),
        (["{store}", "--tz", "Mars/Olympus"], ["--tz 'Mars/Olympus': unknown time zone"]),
        (["{store}", "--from", "yesterday"], ["--from 'yesterday': not an ISO 8601"]),
        (["{store}", "--from", "2026-01-02", "--to", "2026-01-01"], ["is not after --from"]),
        (["{store}", "--format", "emissions-csv"],
         ["needs one line", "--camera and --line", "a/x, b/x"]),
        (["{store}", "--format", "emissions-csv", "--camera", "a"],
         ["no crossings of an emitting"]),
        (["{store}", "--out", "{tmp}/no/such/dir/c.csv"], ["c.csv: cannot write the export"]),
    ],
)  # fmt: skip
def test_each_error_is_one_line_with_exit_2(tmp_path, capsys, args, fragments) -> None:
    store = make_store(
        tmp_path / "s.sqlite",
        [
            ("2026-01-01T08:00:00", "a", "x", "in", "bicycle"),
            ("2026-01-01T08:00:00", "b", "x", "in", "car"),
        ],
    )
    text = tmp_path / "notes.txt"
    text.write_text("not a database, just some notes " * 100)
    names = {"missing": tmp_path / "missing.sqlite", "text": text, "store": store, "tmp": tmp_path}
    code, out, err = run_export(capsys, *[a.format(**names) for a in args])
    lines = err.splitlines()
    assert code == 2 and out == "" and len(lines) == 1, err
    assert lines[0].startswith("carbonedge: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_emissions_rows_keep_emitting_classes_only() -> None:
    crossings = [export.Crossing(0.0, "cam", "l", d, c) for d, c in
                 (("in", "car"), ("out", "car"), ("in", "pedestrian"), ("in", "bicycle"),
                  ("in", "hgv"))]  # fmt: skip
    table = export.count_table(crossings, period="1h", zone=export.resolve_zone("UTC"))
    assert export.emissions_rows(table) == [
        {"vehicle_class": "car", "vehicles": 2},
        {"vehicle_class": "hgv", "vehicles": 1},
    ]


def test_synthetic_scene_export_pipes_into_emissions(tmp_path) -> None:
    """The built-in synthetic scene through the pipeline into a store; its export agrees with the
    summaries' counts, and the emissions CSV feeds ``carbonedge emissions`` through a pipe."""
    from carbonedge.runtime import demo

    outcome = demo.run_synthetic(tmp_path, duration_s=30.0)
    store = tmp_path / "demo.sqlite"
    by_class: dict[str, int] = {}
    for summary in outcome.summaries:
        for per_direction in summary["counts"].values():
            for per_class in per_direction.values():
                for name, n in per_class.items():
                    by_class[name] = by_class.get(name, 0) + n
    assert sum(by_class.values()) > 0

    def carbonedge(*args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "carbonedge.runtime.cli", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "TZ": "Asia/Shanghai"}, **kw)  # fmt: skip

    with carbonedge("export", str(store), "--format", "json", "--period", "1h") as p:
        doc = json.loads(p.communicate(timeout=120)[0])
    assert doc["time_zone"] == "Asia/Shanghai"
    assert doc["store_totals"] == {**by_class, "total": sum(by_class.values())}
    assert sum(r["count"] for r in doc["rows"] if r["class"] == "total") == doc["crossings"]

    producer = carbonedge("export", str(store), "--format", "emissions-csv")
    consumer = carbonedge("emissions", "/dev/stdin", "--method", "copert", "--json",
                          stdin=producer.stdout)  # fmt: skip
    producer.stdout.close()  # the consumer owns the pipe now
    out, err = consumer.communicate(timeout=120)
    assert producer.wait(timeout=120) == 0 and consumer.returncode == 0, err
    result = json.loads(out)
    assert result["total"]["vehicles"] == sum(by_class.values())  # every class emits here
    assert result["total"]["co2_g"][0] > 0

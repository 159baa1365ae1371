"""The report a traffic engineer reads: site clock, 15-min and hourly tables, turning movements,
the site snapshot, runs kept apart, alarm evidence; in headless Chromium at desktop and phone
width."""

from __future__ import annotations

import base64
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections import Counter
from html import unescape
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.runtime.base.events import IntervalSummary, LineCrossed
from carbonedge.runtime.cli import main as cli_main
from carbonedge.runtime.report import load_report_data
from carbonedge.runtime.report_page import render_report
from carbonedge.runtime.store import Store
from carbonedge.vision.fire.events import FireAlarm, FireBox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "calibration"))
from browser_rig import Browser  # noqa: E402
from rigs import require_executable  # noqa: E402

T0_S = 1_767_254_400.0  # 2026-01-01T08:00:00Z = 16:00 in Asia/Shanghai
SHANGHAI_S = 8 * 3600

SITE = """\
device_id: demo-synthetic
time_zone: Asia/Shanghai
detector: {type: motion}
speed: {idle_speed_kmh: 5}
emissions: {method: copert}
cameras:
  road:
    source: {type: synthetic, duration_s: 60, seed: 7}
    lines:
      - {id: main, start_px: [0, 216], end_px: [640, 216]}
      - {id: upper, start_px: [0, 180], end_px: [640, 180]}
    zones:
      - {id: far, polygon_px: [[0, 120], [640, 120], [640, 170], [0, 170]], movement: both}
      - {id: near, polygon_px: [[0, 280], [640, 280], [640, 340], [0, 340]], movement: both}
    ground_plane:
      points:
        - {image_px: [100, 340], world_m: [-6.26, 16.61]}
        - {image_px: [540, 340], world_m: [6.26, 16.61]}
        - {image_px: [390, 130], world_m: [3.68, 35.0]}
        - {image_px: [250, 130], world_m: [-3.68, 35.0]}
summary: {interval_s: 15}
health: {port: 0}
output: {sqlite_path: out/site.sqlite, jsonl_path: null}
"""


def carbonedge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A real run of the synthetic road with two lines and two movement zones, its report."""
    work = tmp_path_factory.mktemp("site")
    (work / "site.yaml").write_text(SITE)
    proc = carbonedge("run", "site.yaml", cwd=work)
    assert proc.returncode == 0, proc.stderr
    proc = carbonedge("report", "out/site.sqlite", "--config", "site.yaml", "--out", "r.html",
                      cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "2026-01-01 16:00:00 UTC+08:00 to 2026-01-01 16:01:00 UTC+08:00; run 1 of 1" \
        in proc.stdout  # fmt: skip
    return work


def stored_crossings(store: Path) -> list[dict]:
    db = sqlite3.connect(store)
    rows = [json.loads(r[0]) for r in db.execute(
        "SELECT body FROM events WHERE kind = 'line_crossed'")]  # fmt: skip
    db.close()
    return rows


def count_tables(html: str, section: str) -> dict[tuple[str, str], dict[tuple[int, str], int]]:
    """(camera, line) -> (period start s, 'direction class') -> count, as the page shows them."""
    part = re.search(rf"<section id='{section}'>.*?</section>", html, re.S).group(0)
    out = {}
    for camera, line, head, body in re.findall(
        r"<table class='counts' data-camera='([^']*)' data-line='([^']*)'><thead><tr>"
        r"<th>period</th>(.*?)<th>total</th></tr></thead><tbody>(.*?)</tbody>", part, re.S,
    ):  # fmt: skip
        columns = [unescape(c) for c in re.findall(r"<th>(.*?)</th>", head)]
        cells = {}
        for start, values in re.findall(r"<tr data-start='(\d+)'><td>[^<]*</td>(.*?)</tr>", body):
            numbers = [int(v) for v in re.findall(r"<td>(\d+)</td>", values)]
            assert sum(numbers[:-1]) == numbers[-1]  # the row total
            cells.update({(int(start), c): n for c, n in zip(columns, numbers, strict=False) if n})
        out[(camera, line)] = cells
    return out


def expected_cells(crossings: list[dict], period_s: int) -> dict:
    """The same cells computed here from the stored events: local periods at UTC+8."""
    out: dict = {}
    for c in crossings:
        start = (int(c["t_wall_s"]) + SHANGHAI_S) // period_s * period_s - SHANGHAI_S
        key = (start, f"{c['direction']} {c['class_name']}")
        cell = out.setdefault((c["source_id"], c["line_id"]), Counter())
        cell[key] += 1
    return {k: dict(v) for k, v in out.items()}


def test_tables_equal_the_stored_counts_on_the_site_clock(site) -> None:
    html = (site / "r.html").read_text()
    crossings = stored_crossings(site / "out/site.sqlite")
    assert len(crossings) == 54
    assert count_tables(html, "counts-15min") == expected_cells(crossings, 900)
    assert count_tables(html, "counts-1h") == expected_cells(crossings, 3600)
    assert "<dt>Time zone</dt><dd>Asia/Shanghai, UTC+08:00</dd>" in html
    assert "2026-01-01 16:00–16:15" in html and "2026-01-01 16:00–17:00" in html
    # chart axes on the site clock: the 16:00:00 tick, the zone named under the axis
    counts_svg = re.search(r'<svg id="chart-counts".*?</svg>', html, re.S).group(0)
    assert ">16:00:00</text>" in counts_svg and "time (Asia/Shanghai, UTC+08:00)" in counts_svg


def test_turning_movement_matrices_equal_the_store(site) -> None:
    html = (site / "r.html").read_text()
    db = sqlite3.connect(site / "out/site.sqlite")
    summaries = [json.loads(r[0]) for r in db.execute("SELECT body FROM summaries")]
    db.close()
    zone_moves = Counter()
    for s in summaries:
        for key, classes in s["movements"]["counts"].items():
            zone_moves[tuple(key.split("->"))] += sum(classes.values())
    assert zone_moves, "the synthetic road has vehicles from far to near and back"
    assert matrix(html, "matrix-zones-road") == dict(zone_moves)
    tracks: dict[int, list] = {}
    for c in stored_crossings(site / "out/site.sqlite"):
        tracks.setdefault(c["tracker_id"], []).append((c["t_wall_s"], c["line_id"]))
    line_moves = Counter((min(v)[1], max(v)[1]) for v in tracks.values() if len(v) > 1)
    assert matrix(html, "matrix-lines-road") == dict(line_moves)


def matrix(html: str, table_id: str) -> dict[tuple[str, str], int]:
    table = re.search(rf"<table class='matrix' id='{table_id}'>(.*?)</table>", html, re.S).group(1)
    head, body = table.split("</thead>")
    columns = re.findall(r"<th>(.*?)</th>", head)[1:-2]
    out = {}
    for origin, values in re.findall(r"<tr><th>(.*?)</th>(.*?)</tr>", body):
        numbers = [int(v) for v in re.findall(r"<td>(\d+)</td>", values)][: len(columns)]
        out.update({(origin, d): n for d, n in zip(columns, numbers, strict=True) if n})
    return out


def test_snapshot_shows_the_first_frame_with_lines_and_zones(site) -> None:
    html = (site / "r.html").read_text()
    svg = re.search(r'<svg id="snapshot-road".*?</svg>', html, re.S).group(0)
    assert "first frame of its source (synthetic, frame 0)" in svg
    assert svg.count('class="count-line"') == 2 and svg.count('class="zone"') == 2
    jpeg = base64.b64decode(re.search(r'href="data:image/jpeg;base64,([^"]+)"', svg).group(1))
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3) and float(image.std()) > 10  # a real frame, not blank


@pytest.mark.parametrize("width_px", [1280, 412])
def test_page_in_headless_chromium_at_desktop_and_phone_width(site, tmp_path, width_px) -> None:
    browser = Browser(require_executable("chromium"), tmp_path / "profile",
                      size_px=(width_px, 900))  # fmt: skip
    try:
        browser.send("Browser.getVersion", timeout_s=30.0)
        page = browser.page((site / "r.html").resolve().as_uri())
        page.send("Emulation.setDeviceMetricsOverride", {
            "width": width_px, "height": 900, "deviceScaleFactor": 1,
            "mobile": width_px < 600})  # fmt: skip
        page.wait_for("document.readyState === 'complete' && !!document.querySelector('#runs')")
        # nothing wider than the screen but the tables that scroll inside their own box
        assert page.eval("document.documentElement.scrollWidth") <= width_px
        widths = page.eval(
            "[...document.querySelectorAll('section, header')].map(e => "
            "e.getBoundingClientRect().right)"
        )
        assert max(widths) <= width_px
        shot = page.eval("document.querySelector('#snapshot-road').getBoundingClientRect().width")
        assert width_px * 0.7 < shot <= width_px
        image_ok = page.eval(
            "(async () => { const img = new Image(); img.src = document.querySelector("
            "'#snapshot-road image').getAttribute('href'); await img.decode(); "
            "return img.naturalWidth; })()"
        )
        assert image_ok == 640
        page.screenshot(tmp_path / f"report-{width_px}.png")
        cells = page.eval(
            "[...document.querySelectorAll('#counts-15min table.counts tfoot th:last-child')]"
            ".map(e => e.textContent)"
        )
        assert cells == ["27", "27"]
    finally:
        browser.close()
    image = cv2.imread(str(tmp_path / f"report-{width_px}.png"))
    assert width_px - 20 <= image.shape[1] <= width_px  # less a scroll bar on a desktop
    assert float(image.std()) > 20


# -- runs, alarms: stores the synthetic road does not produce -------------------------------------


def summary(source: str, start_s: float, n_car: int, *, partial: bool = False) -> IntervalSummary:
    return IntervalSummary(device_id="box-1", source_id=source, seq=0, interval_start_s=start_s,
                           interval_end_s=start_s + 60, frames=600, detector="yolox",
                           counts={"stop": {"in": {"car": n_car}, "out": {}}},
                           partial=partial)  # fmt: skip


def crossing(source: str, t_s: float, track: int) -> LineCrossed:
    return LineCrossed(device_id="box-1", source_id=source, line_id="stop", tracker_id=track,
                       direction="in", class_name="car", frame_index=int(t_s),
                       t_wall_s=t_s)  # fmt: skip


@pytest.fixture()
def two_runs(tmp_path) -> Path:
    """Run 1: a file from 08:00 to 08:02 (ends partial); run 2: another file at 10:00."""
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        for start, n, partial in ((T0_S, 2, False), (T0_S + 60, 1, True)):
            store.write_summary(summary("cam", start, n, partial=partial))
        store.write_events([crossing("cam", T0_S + 5 + k, k) for k in range(3)])
        for start, n in ((T0_S + 7200, 4), (T0_S + 7260, 5)):
            store.write_summary(summary("cam", start, n))
        store.write_events([crossing("cam", T0_S + 7205 + k, k) for k in range(9)])
    return path


def test_runs_are_kept_apart_latest_by_default(two_runs, tmp_path, capsys) -> None:
    latest = load_report_data(two_runs)
    assert [r.number for r in latest.runs] == [1, 2] and [r.number for r in latest.chosen] == [2]
    assert len(latest.summaries) == 2 and len(latest.crossings) == 9
    first = load_report_data(two_runs, run="1")
    assert len(first.summaries) == 2 and len(first.crossings) == 3
    assert len(load_report_data(two_runs, run="all").crossings) == 12
    html = render_report(latest)
    assert "<tr class='shown'><td>2</td>" in html and "<td>--run 1</td>" in html
    out = tmp_path / "r.html"
    assert cli_main(["report", str(two_runs), "--run", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["carbonedge: error: --run '3': expected 'all' or a run number from 1 to 2 "
                   "(the store holds 2 runs)"]  # fmt: skip
    assert cli_main(["report", str(two_runs), "--tz", "Europe/Paris", "--out", str(out)]) == 0
    assert "run 2 of 2" in capsys.readouterr().out
    assert "Europe/Paris, UTC+01:00" in out.read_text()


def test_alarm_evidence_and_bearing_are_shown(tmp_path) -> None:
    path = tmp_path / "fire.sqlite"
    ok, jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), (0, 80, 255), np.uint8))
    (tmp_path / "full.jpg").write_bytes(jpeg.tobytes())
    alarm = FireAlarm(device_id="box-1", source_id="tower", status="start", update_seq=0,
                      started_t_wall_s=T0_S + 5, t_wall_s=T0_S + 5, frame_index=50,
                      classes=("smoke",), confidence=0.83, image_hw=(48, 64), bearing_deg=212.34,
                      boxes=(FireBox((1, 2, 30, 40), "smoke", 0.9),),
                      evidence_full_path=str(tmp_path / "full.jpg"),
                      evidence_crop_path=str(tmp_path / "gone.jpg"))  # fmt: skip
    with Store(path) as store:
        store.write_summary(summary("tower", T0_S, 0))
        store.write_events([alarm])
    from carbonedge.runtime.export import resolve_zone

    html = render_report(load_report_data(path, zone=resolve_zone("Asia/Shanghai")))
    assert "<td>2026-01-01 16:00:05 UTC+08:00</td><td>tower</td><td>start</td>" in html
    assert "<td>212.3°</td>" in html
    embedded = re.search(r"<img alt='[^']*' src='data:image/jpeg;base64,([^']+)'>", html).group(1)
    assert base64.b64decode(embedded) == jpeg.tobytes()
    assert "gone.jpg not found on this machine" in html


def test_config_time_zone_is_checked(tmp_path, capsys) -> None:
    (tmp_path / "site.yaml").write_text(SITE.replace("Asia/Shanghai", "Asia/Atlantis"))
    assert cli_main(["check", str(tmp_path / "site.yaml")]) == 2
    err = capsys.readouterr().err
    assert "time_zone" in err and "unknown time zone 'Asia/Atlantis'" in err


def test_hourly_periods_follow_a_half_hour_zone(two_runs) -> None:
    """India is UTC+05:30: its hours start at :30 UTC, so the site clock decides the cells."""
    from carbonedge.runtime.export import resolve_zone

    html = render_report(load_report_data(two_runs, run="1", zone=resolve_zone("Asia/Kolkata")))
    assert count_tables(html, "counts-1h") == {("cam", "stop"): {(int(T0_S) - 1800, "in car"): 3}}
    assert "2026-01-01 13:00–14:00" in html


def test_export_takes_the_site_clock_from_the_config(site, capsys) -> None:
    assert cli_main(["export", str(site / "out/site.sqlite"), "--config",
                     str(site / "site.yaml")]) == 0  # fmt: skip
    rows = capsys.readouterr().out.splitlines()[1:]
    assert rows and all(r.startswith("2026-01-01T16:00:00+08:00,2026-01-01T16:15:00+08:00,")
                        for r in rows)  # fmt: skip
    html = (site / "r.html").read_text()
    totals = {(r.split(",")[2], r.split(",")[3], r.split(",")[4]): int(r.split(",")[6])
              for r in rows if ",total," in r}  # fmt: skip
    shown = count_tables(html, "counts-15min")
    for (camera, line, direction), n in totals.items():
        assert (
            sum(
                v
                for (_, col), v in shown[(camera, line)].items()
                if col.startswith(direction + " ")
            )
            == n
        )

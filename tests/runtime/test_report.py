"""``carbonedge report``: the offline HTML report from a real store, opened in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO_ROOT
from rigs import require_executable

from carbonedge.runtime.base.errors import StoreError
from carbonedge.runtime.base.events import IntervalSummary
from carbonedge.runtime.cli import main as cli_main
from carbonedge.runtime.report import load_report_data, make_bins, percentile
from carbonedge.runtime.report_page import render_report
from carbonedge.runtime.store import Store
from carbonedge.vision.fire.events import FireAlarm, FireBox

CHART_IDS = (
    "chart-counts", "chart-speed-hist", "chart-speed-intervals", "chart-queue",
    "chart-emissions-co2", "chart-emissions-nox", "chart-emissions-pm25",
)  # fmt: skip
T0_S = 1_767_254_400.0  # 2026-01-01T08:00:00Z


def carbonedge(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonedge.runtime.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip


@pytest.fixture(scope="module")
def pipeline_store(tmp_path_factory) -> Path:
    """The store that ``carbonedge run runtime/examples/synthetic.yaml`` writes (60 s, 4 summaries
    with counts, speeds, zones and emissions; 27 crossings)."""
    work = tmp_path_factory.mktemp("synthetic")
    config = (REPO_ROOT / "runtime/examples/synthetic.yaml").read_text()
    (work / "site.yaml").write_text(config + "health: {port: 0}\n")  # never clash on 9101
    proc = carbonedge("run", "site.yaml", cwd=work)
    assert proc.returncode == 0, proc.stderr
    return work / "carbonedge-out" / "synthetic.sqlite"


def make_summary(source: str, start_s: float, counts_in: dict[str, int], *, device: str = "box-1",
                 length_s: float = 60.0, queue: float = 0.0) -> IntervalSummary:  # fmt: skip
    total = sum(counts_in.values())
    return IntervalSummary(
        device_id=device, source_id=source, seq=0, interval_start_s=start_s,
        interval_end_s=start_s + length_s, counts={"stop": {"in": counts_in, "out": {"car": 1}}},
        frames=int(length_s * 10), detector="yolox",
        sections={"line_speeds": {"stop": {"vehicles": total, "mean_kmh": 40.0, "p85_kmh": 50.0}},
        "zones": {"q": {"occupancy_mean": queue, "occupancy_max": 3, "queue_mean": queue,
                     "queue_max": 3, "entered": 1, "left": 1, "dwell_s_mean": 2.0,
                     "dwell_s_max": 3.0, "idle_s_mean": 1.0, "idle_vehicle_s": 1.0}},
        "emissions": {"method": "copert", "total": {"co2_g": [100.0, 80.0, 120.0],
                                                    "nox_g": [0.2, 0.1, 0.4],
                                                    "pm25_g": [0.01, 0.005, 0.02]}}},
    )  # fmt: skip


def write_store(path: Path, summaries: list[IntervalSummary]) -> Path:
    """A real store holding ``summaries`` (one transaction: fast for thousands of rows)."""
    rows = []
    for seq, summary in enumerate(summaries, start=1):
        body = {**summary.to_dict(), "seq": seq}
        rows.append((summary.id, summary.device_id, summary.source_id, seq,
                     body["interval_start"], body["interval_end"], json.dumps(body)))  # fmt: skip
    with Store(path) as store:
        store.db.execute("BEGIN")
        store.db.executemany("INSERT INTO summaries VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        store.db.execute("COMMIT")
    return path


def rect_values(html: str, chart_id: str) -> list[float]:
    """The value in every bar's hover title of one chart (what the reader sees on hover)."""
    svg = re.search(rf'<svg id="{chart_id}".*?</svg>', html, re.S).group(0)
    return [float(v) for v in re.findall(r"<rect [^>]*><title>[^<]*: ([0-9.]+)</title>", svg)]


def colour_pixels(image: np.ndarray, hex_colour: str, tolerance: int = 12) -> int:
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    bgr = np.array(rgb[::-1], dtype=np.int16)
    return int((np.abs(image.astype(np.int16) - bgr).max(axis=2) <= tolerance).sum())


# -- the report of a real pipeline run ------------------------------------------------------------


def test_report_opens_in_headless_chromium_and_shows_the_plots(pipeline_store, tmp_path) -> None:
    chromium = require_executable("chromium")
    out = tmp_path / "report.html"
    proc = carbonedge("report", str(pipeline_store), "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "4 summaries, 27 crossings, 0 alarm events; sources road" in proc.stdout
    html = out.read_text()

    # Self-contained: no script, no stylesheet link, no image or font fetched from anywhere.
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(", html)
    assert not re.search(r"(src|href)=", html)
    for chart_id in CHART_IDS:
        assert re.search(rf'<svg id="{chart_id}"[^>]*>\s*<title id="{chart_id}-t">\w', html)
    assert "No alarms recorded" in html
    store = Store(pipeline_store)
    summaries, events = store.summaries(), store.event_count()
    store.close()
    counted = sum(n for s in summaries for d in s["counts"].values() for c in d.values()
                  for n in c.values())  # fmt: skip
    assert sum(rect_values(html, "chart-counts")) == counted == 27
    assert sum(rect_values(html, "chart-speed-hist")) == events == 27
    assert "demo-synthetic" in html and "2026-01-01 08:00:00 UTC to 2026-01-01 08:01:00 UTC" in html

    shot = tmp_path / "report.png"
    subprocess.run(
        [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1200,4000", out.resolve().as_uri()],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    image = cv2.imread(str(shot))
    assert image is not None, "chromium wrote no screenshot"
    assert image.shape[:2] == (4000, 1200)
    assert float(image.std()) > 20  # not a blank page
    for colour in ("#0072B2", "#D55E00", "#009E73", "#CC79A7"):  # car, bus_or_truck, moto, van
        assert colour_pixels(image, colour) > 400, colour


# -- store contents the pipeline example does not produce ------------------------------------------


def test_long_periods_are_binned_and_totals_kept(tmp_path) -> None:
    day = [make_summary("north", T0_S + 60 * i, {"car": i % 3, "bus": 1}) for i in range(1440)]
    data = load_report_data(write_store(tmp_path / "day.sqlite", day))
    bins = make_bins(data.summaries)
    assert bins.width_s == 900 and bins.count == 96  # one day of minutes in 15-min bins
    html = render_report(data)
    assert sum(rect_values(html, "chart-counts")) == sum(s.total() for s in day)
    assert "charts in 15 min bins" in html
    assert "144 kg (95 % interval 115.2 to 172.8 kg" in html  # 1440 x 100 g, bounds added


def test_sources_and_devices_are_filtered(tmp_path) -> None:
    path = write_store(tmp_path / "two.sqlite", [
        make_summary("north", T0_S, {"car": 2}), make_summary("south", T0_S, {"car": 5}),
        make_summary("north", T0_S, {"car": 7}, device="box-2"),
    ])  # fmt: skip
    assert len(load_report_data(path).summaries) == 3
    north = load_report_data(path, source_ids=["north"])
    assert {(s["device_id"], s["source_id"]) for s in north.summaries} == {
        ("box-1", "north"), ("box-2", "north")}  # fmt: skip
    only = load_report_data(path, device_id="box-1", source_ids=["south"])
    assert [s["counts"]["stop"]["in"] for s in only.summaries] == [{"car": 5}]
    with pytest.raises(StoreError, match=r"no interval summaries for source west \(it holds "
                                         r"box-1/north, box-1/south, box-2/north\)"):  # fmt: skip
        load_report_data(path, source_ids=["west"])


def test_alarms_and_queues_are_shown(tmp_path) -> None:
    path = write_store(tmp_path / "a.sqlite", [make_summary("tower", T0_S, {"car": 1}, queue=2.5)])
    alarm = FireAlarm(device_id="box-1", source_id="tower", status="start", update_seq=0,
                      started_t_wall_s=T0_S + 5, t_wall_s=T0_S + 5, frame_index=50,
                      classes=("smoke",), confidence=0.83, image_hw=(240, 320),
                      boxes=(FireBox((1, 2, 30, 40), "smoke", 0.9),))  # fmt: skip
    with Store(path) as store:
        store.write_events([alarm])
    html = render_report(load_report_data(path))
    assert "1 fire/smoke alarms raised" in html and "No alarms recorded" not in html
    assert "<tr class='start'><td>2026-01-01 08:00:05 UTC</td><td>tower</td><td>start</td>" \
           "<td>smoke</td><td>0.83</td>" in html  # fmt: skip
    queue_svg = re.search(r'<svg id="chart-queue".*?</svg>', html, re.S).group(0)
    assert "q mean 2026-01-01 08:00:30: 2.5</title>" in queue_svg


def test_unreadable_rows_are_skipped_and_counted(tmp_path) -> None:
    path = write_store(tmp_path / "b.sqlite", [make_summary("n", T0_S, {"car": 1})])
    db = sqlite3.connect(path)
    db.execute("INSERT INTO summaries VALUES ('x', 'box-1', 'n', 9, 'a', 'b', '{broken')")
    db.commit()
    db.close()
    data = load_report_data(path)
    assert (len(data.summaries), data.unreadable_rows) == (1, 1)
    assert "1 unreadable rows in the store" in render_report(data)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "no such store file"),
        (lambda p: p.write_bytes(os.urandom(4096)), "not a readable carbonedge store"),
        (lambda p: p.write_bytes(b""), "not a readable carbonedge store"),  # empty: no tables
        (lambda p: Store(p).close(), "no interval summaries"),
        (lambda p: sqlite3.connect(p).execute("CREATE TABLE t (a)"), "no such table: summaries"),
    ],
)
def test_bad_store_is_one_error_line_naming_the_file(tmp_path, capsys, make, message) -> None:
    store = tmp_path / "box.sqlite"
    make(store)
    assert cli_main(["report", str(store), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"carbonedge: error: {store}: "), err
    assert message in err[0]
    assert not (tmp_path / "r.html").exists()


def test_percentile_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 100):
        values = list(rng.uniform(0, 120, n))
        for q in (0, 50, 85, 100):
            assert percentile(values, q) == pytest.approx(np.percentile(values, q))

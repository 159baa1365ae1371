"""``runtime/examples/junction.yaml`` on real footage: every report section has content."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "runtime/examples/junction.yaml"


def section(html: str, slug: str) -> str:
    match = re.search(rf"<section id='{slug}'>.*?</section>", html, re.S)
    assert match, f"no section {slug}"
    return match.group(0)


@pytest.mark.slow
def test_junction_example_fills_every_report_section(shared_dir, model_dir, tmp_path) -> None:
    env = {**os.environ, "CARBONEDGE_SHARED_DIR": str(shared_dir),
           "CARBONEDGE_MODEL_DIR": str(model_dir)}  # fmt: skip
    site = tmp_path / "junction.yaml"
    shutil.copy(EXAMPLE, site)
    with open(site, "a", encoding="utf-8") as fh:
        fh.write("health: {port: 0}\n")  # never clash with a service on 9101

    def carbonedge(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "carbonedge.runtime.cli", *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=900)  # fmt: skip

    run = carbonedge("run", "junction.yaml")
    assert run.returncode == 0, run.stderr[-2000:]
    report = carbonedge("report", "carbonedge-out/junction.sqlite", "--config", "junction.yaml",
                        "--out", "report.html")  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert "2026-05-11 17:30:00 UTC-07:00" in report.stdout  # start_wall on the site clock
    html = (tmp_path / "report.html").read_text()

    assert "<dt>Time zone</dt><dd>America/Los_Angeles, UTC-07:00</dd>" in html
    site_svg = section(html, "site")
    assert site_svg.count('class="count-line"') == 4 and site_svg.count('class="zone"') == 4
    assert "first frame of its source (video_file, frame 0)" in site_svg
    for slug in ("counts-15min", "counts-1h"):
        rows = re.findall(r"<tr data-start='\d+'>", section(html, slug))
        assert rows, f"{slug}: no table rows"
    speeds = section(html, "speeds")  # speeds need the ground plane: the calibration at work
    assert '<svg id="chart-speed-hist"' in speeds and '<svg id="chart-speed-intervals"' in speeds
    kmh = [float(v) for v in re.findall(r"mean ([0-9.]+)</text>", speeds)]
    assert kmh and 3.0 < kmh[0] < 60.0, kmh  # a junction in the city, not a freeway
    assert '<svg id="chart-queue"' in section(html, "queue-length")
    movements = section(html, "movements")
    zone_table = re.search(r"<table class='matrix' id='matrix-zones-junction'>.*?</table>",
                           movements, re.S)  # fmt: skip
    assert zone_table, "no origin-destination matrix of the zones"
    body = zone_table.group(0).split("</thead>")[1]
    cells = [int(v) for row in re.findall(r"<tr><th>[^<]*</th>(.*?)</tr>", body)
             for v in re.findall(r"<td>(\d+)</td>", row)[:4]]  # fmt: skip
    assert sum(cells) > 0, "no turning movement counted"
    emissions = section(html, "emissions")
    assert '<svg id="chart-emissions-co2"' in emissions and "No emissions" not in emissions
    assert "CO₂ emitted" in html

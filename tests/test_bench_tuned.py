"""``bench_tuned`` (default and tuned settings against the peer per truth clip): the site it tunes
is the truth file's, and the table reads the rounds right (ratios per round, totals from the
counts). The full run takes tens of minutes over real clips: ``carbonedge bench --only tuned``."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonedge.benchmarks.bench_tuned import TRUTH_DIR, ClipRow, format_tuned, site_for
from carbonedge.runtime.audit_traffic import load_truth


def _row(name: str, fps: dict[str, list[float]], f1_tuned: float = 1.0) -> ClipRow:
    row = ClipRow(name, true=10, frames=100, chosen="picodet crop x0.75",
                  chosen_detector={"type": "picodet"}, tune_speedup=1.8,
                  reference_crossings=10)  # fmt: skip
    row.fps = fps
    row.f1 = {"default": 0.9, "tuned": f1_tuned, "peer": 0.5}
    row.counted_matched = {"default": (10, 9), "tuned": (10, int(10 * f1_tuned)), "peer": (10, 5)}
    return row


def test_ratios_are_per_round_medians() -> None:
    # round 1 ran on a quiet box, round 2 under load: each round's ratio is its own sides'
    row = _row("a.yaml", {"default": [20.0, 10.0], "tuned": [40.0, 20.0], "peer": [40.0, 20.0]})
    assert row.ratio("default") == pytest.approx(0.5)
    assert row.ratio("tuned") == pytest.approx(1.0)
    assert row.fps_median("peer") == pytest.approx(30.0)


def test_table_totals_and_the_clips_where_tuning_lost() -> None:
    rows = [
        _row("a.yaml", {"default": [10.0], "tuned": [40.0], "peer": [20.0]}),
        _row("b.yaml", {"default": [10.0], "tuned": [10.0], "peer": [40.0]}, f1_tuned=0.8),
    ]
    text = format_tuned(rows)
    assert "| a | 10 | 0.900 (10/9) | 1.000 (10/10) | 0.500 (10/5) |" in text
    assert "| 0.50x | 2.00x | picodet crop x0.75 (1.80x, 10) |" in text
    # totals from the counts: 20 true, 20 counted, 18 matched -> 0.9; geometric mean of ratios
    assert "| **all 2** | 20 | **0.900** (20/18) | **0.900** (20/18) | **0.500** (20/10) |" in text
    assert "0.35x (geo. mean) | 0.71x (geo. mean)" in text  # sqrt(0.5 * 0.25), sqrt(2 * 0.25)
    assert text.endswith("Tuned F1 below the default's on: b")


def test_site_holds_the_truth_lines_and_the_default_detector(tmp_path: Path) -> None:
    path = TRUTH_DIR / "street_lorries_buses_london_shaftesbury_jamcam_ministrudels.yaml"
    truth = load_truth(path)
    config = site_for(truth, tmp_path / str(truth.clip), tmp_path)
    camera = config.cameras["cam"]
    assert [line.id for line in camera.lines] == ["carriageway", "crossing_near"]
    assert camera.lines[1].start_px == truth.lines[1].start_px
    assert config.detector.type == "picodet"
    assert camera.source.path == tmp_path / str(truth.clip)

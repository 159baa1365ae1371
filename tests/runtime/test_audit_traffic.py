"""Self-audit: the AI City-style score, truth files, the synthetic audit and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from carbonedge.runtime.audit_traffic import (
    TrafficTruth,
    audit_clip,
    audit_synthetic,
    load_truth,
    nwrmse_score,
)
from carbonedge.runtime.base.errors import ConfigError
from carbonedge.runtime.cli import main

REPO = Path(__file__).resolve().parents[2]
LINE = {"id": "l", "start_px": [0, 100], "end_px": [200, 100]}


def test_nwrmse_perfect_missing_and_late() -> None:
    truth = [5.0, 15.0, 25.0, 35.0]
    assert nwrmse_score(truth, truth, 40.0, 4) == 1.0
    # counted nothing: cumulative errors (1, 2, 3, 4), weights (1, 2, 3, 4) / 10
    assert nwrmse_score([], truth, 40.0, 4) == pytest.approx(
        1.0 - (0.1 + 0.8 + 2.7 + 6.4) ** 0.5 / 4
    )
    assert nwrmse_score([], [], 40.0, 4) == 1.0
    assert nwrmse_score([1.0], [], 40.0, 4) == 0.0
    # all counted one segment late: cumulative counts (0,1,2,3) vs (1,2,3,4) at the segment ends,
    # weights (1,2,3,4)/10: wRMSE = 1, normalised by 4 -> 0.75; the last segment catches up
    late = [15.0, 25.0, 35.0, 39.0]
    expected = 1.0 - (0.1 + 0.2 + 0.3 + 0.0) ** 0.5 / 4
    assert nwrmse_score(late, truth, 40.0, 4) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lines": [LINE]}, "give counts, vehicles or both"),
        ({"lines": [LINE], "counts": {"x": {"in": 1}}}, "line 'x'"),
        ({"lines": [LINE], "vehicles": [{"line": "l", "direction": "in"}]}, "frame or t_s"),
        ({"lines": [LINE], "counts": {"l": {"up": 1}}}, "counts.l.up"),
    ],
)
def test_truth_errors(tmp_path: Path, data: dict, message: str) -> None:
    path = tmp_path / "truth.yaml"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message) as info:
        load_truth(path)
    assert str(path) in str(info.value)


def test_example_truth_files_are_valid() -> None:
    for path in sorted((REPO / "runtime" / "examples").glob("*-truth.yaml")):
        truth = load_truth(path)
        assert sum(truth.totals().values()) > 0


def test_truth_totals_by_class() -> None:
    truth = TrafficTruth.model_validate({
        "lines": [LINE], "vehicles": [
            {"line": "l", "direction": "in", "t_s": 1.0, "class": "car"},
            {"line": "l", "direction": "in", "t_s": 2.0, "class": "van"},
            {"line": "l", "direction": "out", "frame": 30},
        ]})  # fmt: skip
    assert truth.totals() == {("l", "in", "*"): 2, ("l", "in", "car"): 1, ("l", "in", "van"): 1,
                              ("l", "out", "*"): 1}  # fmt: skip


def test_synthetic_scene_counts_classes_and_speeds_are_right() -> None:
    """The weight-free path on the synthetic scene: exact counts per direction and length class,
    every crossing matched, every speed within 5 % of the truth."""
    report = audit_synthetic(duration_s=60.0, seed=7)
    d = report.to_dict()
    assert report.passed and d["tolerance"] == 0
    assert sum(r["truth"] for r in d["counts"] if r["class"] == "*") == 27
    assert {r["class"] for r in d["counts"]} >= {"car", "van", "bus_or_truck", "motorcycle"}
    assert all(r["error"] == 0 for r in d["counts"])
    assert d["unmatched_truth_crossings"] == 0
    assert d["speed_error_pct"]["matched"] == 27
    assert d["speed_error_pct"]["max_abs"] < 5.0
    assert min(report.nwrmse.values()) == 1.0


def test_cli_synthetic_json_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--synthetic", "--duration-s", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"] is True and out["frames"] == 300
    assert main(["audit", "clip.avi"]) == 2
    assert "give a CLIP and --truth" in capsys.readouterr().err
    assert main(["audit", "clip.avi", "--truth", "missing.yaml"]) == 2
    assert "missing.yaml: truth file not found" in capsys.readouterr().err


@pytest.mark.slow
def test_highway_clip_audit(shared_dir: Path, with_model_dir: Path) -> None:
    """YOLOX-nano on the hand-counted highway clip: 27 +-1, and counted when they cross."""
    truth = load_truth(REPO / "runtime" / "examples" / "highway-truth.yaml")
    report = audit_clip(shared_dir / "media" / "traffic" / "highway_cdnet_320x240.avi", truth)
    assert report.passed, report.format()
    assert report.nwrmse["y150/in"] > 0.95

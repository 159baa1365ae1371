"""Per-event audit: one-to-one matching in time, missed and phantom crossings, class confusion,
class groups; a per-class truth never lets a wrong class mix pass; a folder of truth files."""

from __future__ import annotations

import json

import pytest

from carbonedge.runtime.audit_events import Crossing, match_events
from carbonedge.runtime.audit_traffic import TrafficTruth, score_events
from carbonedge.runtime.base.events import LineCrossed


def _c(t_s: float, cls: str | None = "car", line: str = "l", direction: str = "in") -> Crossing:
    return Crossing(line, direction, t_s, round(t_s * 10), cls)


def test_matching_is_one_to_one_within_the_window_and_by_line_and_direction() -> None:
    truth = [_c(1.0), _c(1.2), _c(5.0, "hgv"), _c(9.0, "pedestrian")]
    counted = [_c(1.05), _c(5.3, "bus"), _c(7.0), _c(9.1, direction="out")]
    score = match_events(truth, counted)
    assert score.matched == 2  # 1.05 takes 1.0 (closest); 1.2 is left; 5.3 matches 5.0
    assert [c.t_s for c in score.missed] == [1.2, 9.0]
    assert [c.t_s for c in score.phantoms] == [7.0, 9.1]  # a wrong direction is a phantom
    assert score.f1 == pytest.approx(2 * 2 / 8)
    assert score.confusion() == {"car": {"car": 1}, "hgv": {"bus": 1}}
    groups = score.by_group()
    assert groups["heavy"]["true"] == 1 and groups["heavy"]["matched"] == 1  # bus and hgv: heavy
    assert groups["pedestrian"] == {
        "true": 1,
        "counted": 0,
        "matched": 0,
        "missed": 1,
        "phantom": 0,
        "total_error_pct": -100.0,
        "matched_pct": 0.0,
    }


def test_a_class_confusion_across_groups_is_not_a_group_match() -> None:
    score = match_events([_c(1.0, "van")], [_c(1.0, "hgv")])
    assert score.matched == 1
    assert score.by_group()["light"]["matched"] == 0
    assert score.by_group()["heavy"]["counted"] == 1


def _ev(frame: int, cls: str) -> LineCrossed:
    return LineCrossed("d", "s", "l", frame, "in", cls, frame, frame / 10.0)


def test_a_right_total_of_wrong_classes_fails_a_per_class_truth() -> None:
    truth = TrafficTruth.model_validate(
        {
            "lines": [{"id": "l", "start_px": [0, 0], "end_px": [10, 0]}],
            "tolerance": 0,
            "vehicles": [
                {"line": "l", "direction": "in", "frame": 10, "class": "car"},
                {"line": "l", "direction": "in", "frame": 30, "class": "car"},
            ],
        }
    )
    report = score_events(
        truth,
        [_ev(10, "car"), _ev(30, "hgv")],
        t0_wall_s=0.0,
        fps=10.0,
        frames=50,
        clip="c",
        detector="x",
    )
    assert not report.passed  # the total (2) is right, car 1 of 2 and hgv 1 of 0 are not
    body = report.to_dict()
    assert {
        "line": "l",
        "direction": "in",
        "class": "hgv",
        "truth": 0,
        "counted": 1,
        "error": 1,
    } in body["counts"]
    events = body["events"]
    assert events["event_f1"] == 1.0 and events["class_confusion"] == {"car": {"car": 1, "hgv": 1}}
    assert [c["frame"] for c in events["crossings"]] == [10, 30]
    json.dumps(body)


def test_cli_audits_a_folder_of_truth_files(tmp_path, capsys, shared_dir, with_model_dir) -> None:
    from carbonedge.runtime.cli import main

    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "highway.yaml").write_text(
        "clip: highway_lowres_160x120_kaybr.mp4\n"  # 120 frames: quick
        "lines: [{id: y60, start_px: [0, 60], end_px: [160, 60]}]\n"
        "vehicles:\n"
        + "".join(f"  - {{line: y60, direction: in, frame: {f}, class: car}}\n" for f in (20, 70))
    )
    (truth / "notes.yaml").write_text(
        "lines: [{id: a, start_px: [0, 1], end_px: [5, 1]}]\ncounts: {a: {in: 1}}\n"
    )
    media = shared_dir / "media" / "traffic"
    assert main(["audit", str(truth), "--media", str(media), "--only", "highway", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["totals"]["clips"] == 1 and out["totals"]["true"] == 2
    assert main(["audit", str(truth), "--media", str(media)]) == 0
    text = capsys.readouterr().out
    assert "skipped notes.yaml: no `clip:`" in text and "total" in text
    assert main(["audit", str(truth), "--media", str(tmp_path)]) == 2
    assert "not found in" in capsys.readouterr().err


def test_the_audit_gives_each_class_the_count_spread_its_error_needs() -> None:
    truth = [_c(float(i), "car") for i in range(10)] + [_c(20.0 + i, "hgv") for i in range(5)]
    counted = [_c(float(i), "car") for i in range(9)] + [_c(20.0, "hgv"), _c(21.0, "hgv")]
    gsd = match_events(truth, counted).count_gsd_by_class()
    # cars 9/10: the 95 % band must reach 0.9; hgv 2/5 needs a much wider band
    assert gsd["car"] ** 1.96 == pytest.approx(1 / 0.9, rel=0.01)
    assert gsd["hgv"] ** 1.96 == pytest.approx(5 / 2, rel=0.01)

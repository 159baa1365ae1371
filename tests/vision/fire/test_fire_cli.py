"""``carbonedge audit fire`` on folders the test writes: stills, stamped sequences, trees."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.runtime.cli import main


def _terrain(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = np.empty((240, 320, 3), np.uint8)
    image[:100] = (220, 170, 120)
    t = np.repeat(rng.integers(40, 90, (140, 80), dtype=np.uint8), 4, axis=1)
    image[100:] = np.stack([t // 2, t, t], axis=2)
    return image


def _sequence(folder: Path) -> None:
    """12 stamped frames one minute apart; from 20:05 a grey plume grows from the ground."""
    (folder / "labels").mkdir(parents=True)
    for k in range(12):
        image = _terrain()
        name = f"cam_2020_06_11T20_{k:02d}_00"
        if k >= 5:
            g = k - 4
            image[200 - 10 * g : 200, 150 - 2 * g : 160 + 2 * g] = (170, 170, 170)
            (folder / "labels" / f"{name}.txt").write_text("0 0.5 0.8 0.05 0.1\n")
        cv2.imwrite(str(folder / f"{name}.png"), image)


def test_audit_fire_sequence_and_stills(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _sequence(tmp_path / "seq")
    (tmp_path / "stills").mkdir()
    for k in range(3):
        cv2.imwrite(str(tmp_path / "stills" / f"s{k}.jpg"), _terrain(k))
    rc = main(["audit", "fire", str(tmp_path / "seq"), str(tmp_path / "stills"), "--json",
               "--frames", "5", "--evidence-dir", str(tmp_path / "ev")])  # fmt: skip
    assert rc == 0
    seq, stills, total = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert seq["kind"] == "sequence" and seq["positive"] and seq["truth_source"] == "yolo labels"
    assert seq["alarms_before_ignition"] == 0 and seq["detected"]
    assert seq["time_to_alarm_s"] is not None and 0 <= seq["time_to_alarm_s"] <= 240
    assert Path(seq["evidence"]).is_file()
    assert stills == {"kind": "stills", "folder": str(tmp_path / "stills"), "stills": 3,
                      "frames_per_still": 5, "static_false_alarms": 0,
                      "jittered_false_alarms": 0, "negative_days": 3 * 2 * 5 * 60 / 86400,
                      "alarmed_stills": [], "labelled_skipped": 0}  # fmt: skip
    assert total["kind"] == "totals" and (total["positives"], total["alarmed"]) == (1, 1)
    assert total["median_time_to_alarm_s"] == seq["time_to_alarm_s"]


def test_audit_fire_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "fire.yaml").write_text("confirm: {votes_to_start: 0}\n")
    (tmp_path / "stills").mkdir()
    rc = main(["audit", "fire", str(tmp_path / "stills"), "--config", str(tmp_path / "fire.yaml")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "fire.yaml: confirm.votes_to_start" in err and "Traceback" not in err


def test_audit_fire_walks_subfolders_and_totals(tmp_path: Path, capsys) -> None:
    """A folder of sequences: each stamped subfolder is one sequence, loose images are stills."""
    _sequence(tmp_path / "towers" / "east" / "seq")
    quiet = tmp_path / "towers" / "west"
    quiet.mkdir(parents=True)
    for k in range(6):  # a negative: FIgLib names, all before ignition, no labels
        cv2.imwrite(str(quiet / f"{1000000000 + 60 * k}_{60 * k - 600:+06d}.jpg"), _terrain())
    cv2.imwrite(str(tmp_path / "towers" / "loose.jpg"), _terrain(3))
    (tmp_path / "towers" / "empty").mkdir()
    rc = main(["audit", "fire", str(tmp_path / "towers"), "--frames", "3"])
    assert rc == 0
    out = capsys.readouterr().out
    assert f"{tmp_path / 'towers'}: stills, 1 x 3 frames" in out
    assert f"{quiet}: sequence, 6 frames every 60 s; negative; false alarms: 0 in 0.004" in out
    seq = tmp_path / "towers" / "east" / "seq"
    assert f"{seq}: sequence, 12 frames every 60 s; positive" in out
    assert "totals: positives alarmed 1/1, median time from the first smoke frame" in out
    assert "negative sequences 1: false alarms 0 in 0.004 camera-days" in out


@pytest.mark.parametrize("make", ["empty", "missing", "only_labels"])
def test_audit_fire_refuses_a_folder_without_images(tmp_path: Path, capsys, make: str) -> None:
    folder = tmp_path / "f"
    if make != "missing":
        folder.mkdir()
    if make == "only_labels":
        (folder / "labels").mkdir()
        cv2.imwrite(str(folder / "labels" / "x.jpg"), _terrain())  # labels/ is not footage
    rc = main(["audit", "fire", str(folder)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert err.startswith(f"carbonedge: error: {folder}: no ")

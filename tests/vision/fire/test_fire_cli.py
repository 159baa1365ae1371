"""``carbonedge audit fire`` on folders the test writes: stills and a stamped, labelled sequence."""

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
    seq, stills = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert seq["kind"] == "sequence" and seq["labelled_frames"] == 7
    assert seq["alarms_before_first_label"] == 0
    assert seq["time_to_alarm_s"] is not None and 0 <= seq["time_to_alarm_s"] <= 240
    assert Path(seq["evidence"]).is_file()
    assert stills == {"kind": "stills", "folder": str(tmp_path / "stills"), "stills": 3,
                      "frames_per_still": 5, "static_false_alarms": 0,
                      "jittered_false_alarms": 0, "alarmed_stills": []}  # fmt: skip


def test_audit_fire_bad_config_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "fire.yaml").write_text("confirm: {votes_to_start: 0}\n")
    (tmp_path / "stills").mkdir()
    rc = main(["audit", "fire", str(tmp_path / "stills"), "--config", str(tmp_path / "fire.yaml")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "fire.yaml: confirm.votes_to_start" in err and "Traceback" not in err

"""The weight-free detector on real tower footage and hard negatives (../shared/media/fire).

Tuned on: the HPWREN/FIgLib sequence (pre-ignition frames and 20:38-20:45) with nuisance seeds
1-5. Held out: nuisance seeds used here (100+), the negatives, the frames after 20:45.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.vision.fire import FireMonitor, FireMonitorConfig
from carbonedge.vision.fire.audit import score_sequence, score_stills
from carbonedge.vision.fire.replay import as_sequence, frame_at, image_files, nuisance, stamp_s

SEQ = "media/fire/positive/seq_hpwren_figlib_20200611_lp-n-mobo-c"
FIRST_LABEL = "2020_06_11T20_38_01"
DEADLINE = "2020_06_11T20_44_01"


def _t(stamp: str) -> float:
    return stamp_s(Path(f"x_{stamp}.jpg"))  # type: ignore[return-value]


@pytest.mark.slow
def test_first_alarm_by_20_44_and_none_before_20_38(shared_dir: Path, tmp_path: Path) -> None:
    cfg = FireMonitorConfig(evidence={"dir": str(tmp_path)})
    score = score_sequence(shared_dir / SEQ, cfg)
    assert score.frames == 81 and score.labelled_frames == 39
    assert score.first_labelled_t_s == _t(FIRST_LABEL)
    assert score.alarms_before_first_label == 0
    assert score.first_alarm_t_s is not None and score.first_alarm_t_s <= _t(DEADLINE)
    assert score.alarm_starts == 1  # one fire, one alarm (it updates)
    assert cv2.imread(score.evidence).shape == (640, 960, 3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [101, 102, 103])
def test_no_alarm_on_jittered_pre_ignition_frames(shared_dir: Path, seed: int) -> None:
    items = [it for it in as_sequence(image_files(shared_dir / SEQ), 60.0) if not it.labelled]
    items = [it for it in items if it.t_s < _t(FIRST_LABEL)]
    assert len(items) == 42
    monitor = FireMonitor(FireMonitorConfig(), "box")
    rng = np.random.default_rng(seed)
    events = []
    for i, it in enumerate(items):
        image = nuisance(cv2.imread(str(it.path)), rng)
        events += monitor.update(frame_at(image, i, it.t_s, "tower", 1 / 60))
    assert events == []


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["media/fire/negative", "media/fire/negative/ccsn_clouds"])
def test_no_alarm_on_negatives_static_or_jittered(shared_dir: Path, folder: str) -> None:
    score = score_stills(shared_dir / folder, FireMonitorConfig(), frames=8, seed=7)
    assert score.stills >= 9
    assert (score.static_false_alarms, score.jittered_false_alarms) == (0, 0), score.alarmed_stills

"""The end-to-end benchmark compares like with like: the peer's tutorial-style decode finds the
same vehicles as our detector on real frames, and the hand count it scores against is the one in
../shared/media/MEDIA.md. (Timing is never asserted; ``test_benchmarks.py`` runs the quick
benchmark itself.)"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_frame

from carbonedge.benchmarks import bench_e2e
from carbonedge.kernels import box_iou
from carbonedge.runtime.base.errors import SourceOpenError


def test_hand_count_transcription() -> None:
    assert len(bench_e2e.HAND_COUNT_FRAMES) == 27  # 17 left lane + 10 right lane
    assert bench_e2e.truth_before(1699) == 27
    assert bench_e2e.truth_before(300) == 3  # frames 150, 265, 285


def test_yolox_grids_follow_the_demo() -> None:
    grids, strides = bench_e2e.yolox_grids((416, 416))
    assert grids.shape == (3549, 2) and strides.shape == (3549, 1)
    assert grids[1].tolist() == [1, 0] and grids[52].tolist() == [0, 1]  # 52 cells per row at 8
    assert strides[0, 0] == 8 and strides[52 * 52, 0] == 16 and strides[-1, 0] == 32
    assert grids[-1].tolist() == [12, 12]


@pytest.mark.parametrize("frame_index", [820, 1510])  # several vehicles in view
def test_peer_decode_finds_the_same_vehicles_as_ours(
    shared_dir: Path, with_model_dir: Path, frame_index: int
) -> None:
    clip = shared_dir / bench_e2e.CLIP
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, frame_index)
    ok, image = cap.read()
    cap.release()
    assert ok, f"{clip}: cannot read frame {frame_index}"
    ours = bench_e2e.OursE2E(with_model_dir / bench_e2e.MODEL_FILE, clip)
    peer = bench_e2e.PeerE2E(with_model_dir / bench_e2e.MODEL_FILE, clip)

    mine = ours.detector.detect(make_frame(image, index=frame_index, fps=60.0))
    blob, ratio = bench_e2e.yolox_preprocess(image, peer.input_hw)
    output = peer.session.run(None, {peer.input_name: blob})[0]
    xyxy, confidence, class_id = peer.postprocess(output[0], ratio)

    # the two letterboxes differ a little (resampling), the boxes barely: IoU 0.996-0.999 measured
    assert len(mine) >= 5
    assert len(xyxy) == len(mine)
    iou = box_iou(mine.xyxy, xyxy)
    assert np.all(iou.max(axis=1) > 0.97), iou
    np.testing.assert_allclose(np.sort(confidence), np.sort(mine.confidence), atol=0.02)
    assert set(class_id.tolist()) <= set(bench_e2e.COCO_VEHICLE_IDS)
    assert np.all(confidence > bench_e2e.SCORE_THRESHOLD)


@pytest.mark.parametrize("ci", ["", "true"])
def test_missing_data_skips_outside_ci_and_fails_in_ci(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, ci: str
) -> None:
    for name in ("CARBONEDGE_SHARED_DIR", "CARBONEDGE_MODEL_DIR", "XDG_CACHE_HOME"):
        monkeypatch.setenv(name, str(tmp_path))
    monkeypatch.setenv("CI", ci)
    if ci:
        with pytest.raises(SourceOpenError, match="CI must run with the real data"):
            bench_e2e.run(quick=True)
    else:
        assert bench_e2e.run(quick=True) == []
        assert "bench_e2e skipped" in caplog.text and "highway_cdnet_320x240.avi" in caplog.text

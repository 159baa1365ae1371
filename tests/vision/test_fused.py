"""Fused detector: the model's boxes, plus motion blobs only where no model box covers them."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_frame
from pydantic import ValidationError

from carbonedge.vision.detectors import create_detector
from carbonedge.vision.detectors.fused import FusedConfig, FusedDetector, _covered
from carbonedge.vision.detectors.picodet import PicodetConfig

DUSK = "media/traffic/freeway_dusk_backlit_caltrans_marshrd_jblitzar.mp4"
HIGHWAY = "media/traffic/highway_cdnet_320x240.avi"


def _frames(path: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while len(frames) < n:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    cap.release()
    return frames


def _fused(shared_dir: Path) -> FusedDetector:
    model = str(shared_dir / "models" / PicodetConfig().model)
    det = create_detector(FusedConfig(detector={"type": "picodet", "model": model}))
    assert isinstance(det, FusedDetector)
    return det


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"type": "motion"}, "one of the model detectors"),
        ({"type": "fused"}, "one of the model detectors"),
        ({"type": "nope"}, "one of the model detectors"),
        ({"type": "picodet", "score_threshold": 2}, "score_threshold"),
    ],
)
def test_bad_inner_detector_is_one_clear_error(settings, message) -> None:
    with pytest.raises(ValidationError, match=message):
        FusedConfig(detector=settings)


def test_covered_fraction() -> None:
    blobs = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    boxes = np.array([[5, 0, 15, 10]], np.float32)
    np.testing.assert_allclose(_covered(blobs, boxes), [0.5, 0.0])
    assert _covered(blobs, np.zeros((0, 4), np.float32)).tolist() == [0.0, 0.0]


def test_by_day_the_model_decides(shared_dir: Path) -> None:
    """On the daylit highway clip no added motion blob lies on a car the model boxed (blobs of
    cars entering at the top edge, before the model sees them, and of swaying trees remain:
    the tracker and the lines decide about those)."""
    det = _fused(shared_dir)
    vehicle = det.class_names.index("vehicle")
    added = 0
    for i, image in enumerate(_frames(shared_dir / HIGHWAY, 120)):
        out = det.detect(make_frame(image, index=i, fps=60.0))
        extra = out.class_id == vehicle
        added += int(extra.sum())
        strong = ~extra & (out.confidence >= det.config.cover_score)  # weak boxes hide nothing
        covered = _covered(out.xyxy[extra], out.xyxy[strong])
        assert (covered <= det.config.max_overlap).all(), i
    assert added > 0  # the motion part runs by day too


def test_at_dusk_motion_fills_in(shared_dir: Path) -> None:
    """On the dusk clip the model boxes almost nothing (from 0.4, where a track can start); the
    fused detector finds movers."""
    det = _fused(shared_dir)
    vehicle = det.class_names.index("vehicle")
    model_boxes = motion_boxes = 0
    for i, image in enumerate(_frames(shared_dir / DUSK, 150)):
        out = det.detect(make_frame(image, index=i, fps=29.97))
        motion_boxes += int((out.class_id == vehicle).sum())
        model_boxes += int(((out.class_id != vehicle) & (out.confidence >= 0.4)).sum())
    assert motion_boxes > 3 * max(model_boxes, 10)

"""Length classes from a ground plane: the synthetic scene's exact boxes of known vehicles."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.calibration.ground_plane import GroundPlane
from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.types import Detections
from carbonedge.vision.analytics.length_classes import LENGTH_CLASSES, LengthClassifier

EXPECTED = {"motorcycle": "motorcycle", "car": "car", "van": "van", "bus": "bus_or_truck",
            "truck": "bus_or_truck"}  # fmt: skip


@pytest.fixture(scope="module")
def scene() -> SyntheticScene:
    return SyntheticScene(SyntheticSceneConfig(id="s", duration_s=180, seed=3))


def test_exact_boxes_are_classed_by_length(scene: SyntheticScene) -> None:
    gt = scene.ground_truth
    world_to_image = np.asarray(gt.homography_world_to_image, np.float64)
    classifier = LengthClassifier(GroundPlane(np.linalg.inv(world_to_image)), gt.image_size_px)
    boxes, truth = [], []
    w, h = gt.image_size_px
    for v in gt.vehicles:
        for frac in (0.3, 0.5, 0.7):  # three points along its way through the image
            box = gt.box_px(v, v.spawn_s + frac * (v.exit_s - v.spawn_s))
            if box is None or box[0] <= 1 or box[1] <= 1 or box[2] >= w - 1 or box[3] >= h - 1:
                continue  # clipped by the image border: its size is not the vehicle's
            boxes.append(box)
            truth.append(EXPECTED[v.class_name])
    assert len(boxes) > 250 and set(truth) == set(LENGTH_CLASSES)
    dets = Detections(np.asarray(boxes, np.float32), np.ones(len(boxes), np.float32),
                      np.zeros(len(boxes), np.int32))  # fmt: skip
    got = [LENGTH_CLASSES[c] for c in classifier.classify(dets).class_id]
    accuracy = np.mean([g == t for g, t in zip(got, truth, strict=True)])
    assert accuracy >= 0.97, accuracy


def test_camera_height_comes_from_the_homography(scene: SyntheticScene) -> None:
    gt = scene.ground_truth
    h = np.linalg.inv(np.asarray(gt.homography_world_to_image, np.float64))
    classifier = LengthClassifier(GroundPlane(h), gt.image_size_px)
    assert classifier.camera_centre_m[2] == pytest.approx(12.0, rel=1e-6)


def test_empty_detections() -> None:
    classifier = LengthClassifier(
        GroundPlane(np.linalg.inv(np.asarray(
            SyntheticScene(SyntheticSceneConfig(id="s", duration_s=1)).ground_truth
            .homography_world_to_image))), (640, 360))  # fmt: skip
    assert len(classifier.classify(Detections.empty())) == 0

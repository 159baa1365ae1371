"""Road taxonomy road-v1: labels mapped by road-scene rules, riders folded into their two-wheelers,
per-class evidence; the summary carries the taxonomy and the modal split."""

from __future__ import annotations

import numpy as np
from conftest import make_detections

from carbonedge.vision.coco import COCO80
from carbonedge.vision.taxonomy import ROAD_V1, RoadClasses, RoadClassesConfig

COCO = RoadClasses(RoadClassesConfig(), COCO80)


def _names(d) -> list[str]:
    return [COCO.class_names[i] for i in d.class_id]


def test_coco_labels_map_to_road_classes_and_non_road_labels_are_dropped() -> None:
    labels = ["car", "truck", "train", "bus", "motorcycle", "bicycle", "person", "boat"]
    boxes = [[100 * i, 0, 100 * i + 60, 80] for i in range(len(labels))]
    d = make_detections(boxes, confidence=0.9,
                        class_id=[COCO80.index(n) for n in labels])  # fmt: skip
    out = COCO(d)
    assert _names(out) == ["car", "hgv", "hgv", "bus", "motorcycle", "bicycle", "pedestrian"]
    assert out.xyxy[:, 0].tolist() == [0, 100, 200, 300, 400, 500, 600]  # rows kept in order
    assert COCO.class_names[: len(ROAD_V1)] == ROAD_V1


def test_a_person_on_a_two_wheeler_is_its_rider_not_a_pedestrian() -> None:
    bike, person = COCO80.index("bicycle"), COCO80.index("person")
    d = make_detections(
        [[100, 150, 160, 220],  # bicycle
         [105, 100, 155, 200],  # its rider: most of the person box lies on the bicycle box
         [300, 100, 340, 220]],  # a pedestrian on their own
        confidence=0.9, class_id=[bike, person, person],
    )  # fmt: skip
    assert _names(COCO(d)) == ["bicycle", "pedestrian"]


def test_a_person_beside_a_bicycle_stays_a_pedestrian() -> None:
    bike, person = COCO80.index("bicycle"), COCO80.index("person")
    d = make_detections([[100, 150, 160, 220], [150, 100, 200, 220]], confidence=0.9,
                        class_id=[bike, person])  # fmt: skip
    assert _names(COCO(d)) == ["bicycle", "pedestrian"]


def test_people_and_bicycles_have_their_own_minimum_score_and_size() -> None:
    car, person = COCO80.index("car"), COCO80.index("person")
    d = make_detections(
        [[0, 0, 40, 40], [100, 0, 120, 60], [200, 0, 204, 8]],
        confidence=[0.25, 0.25, 0.9], class_id=[car, person, person],
    )  # fmt: skip
    # the car at 0.25 passes; the person at 0.25 is below pedestrian's 0.3; the 8 px one too small
    assert _names(COCO(d)) == ["car"]
    loose = RoadClasses(RoadClassesConfig(min_score={}, min_height_px={}), COCO80)
    assert len(loose(d)) == 3


def test_labels_outside_the_map_pass_unchanged() -> None:
    mapper = RoadClasses(RoadClassesConfig(), ("vehicle", "car"))
    d = make_detections([[0, 0, 10, 10], [20, 0, 30, 10]], class_id=[0, 1])
    out = mapper(d)
    assert [mapper.class_names[i] for i in out.class_id] == ["vehicle", "car"]
    assert len(mapper(make_detections(np.zeros((0, 4))))) == 0


def test_a_train_box_needs_more_evidence_than_a_truck() -> None:
    train, truck = COCO80.index("train"), COCO80.index("truck")
    d = make_detections([[0, 0, 300, 200], [400, 0, 460, 60]], confidence=0.55,
                        class_id=[train, truck])  # fmt: skip
    assert _names(COCO(d)) == ["hgv"]  # the road-wide low-score "train" is dropped
    assert len(COCO(make_detections([[0, 0, 300, 200]], confidence=0.8, class_id=train))) == 1

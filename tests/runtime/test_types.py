from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections

from carbonedge.runtime.base.events import LineCrossed
from carbonedge.runtime.base.types import Detections


def test_defaults_and_dtypes() -> None:
    d = Detections([[0, 0, 10, 20], [5, 5, 6, 6]], [0.9, 0.4], [2, 7])
    assert d.xyxy.dtype == np.float32 and d.confidence.dtype == np.float32
    assert d.class_id.dtype == np.int32 and d.tracker_id.dtype == np.int64
    assert d.tracker_id.tolist() == [-1, -1]
    assert d.source_row.tolist() == [0, 1] and d.source_row.dtype == np.int32
    assert len(d) == 2


def test_indexing_slices_every_column() -> None:
    d = make_detections(
        [[0, 0, 1, 1], [1, 1, 2, 2], [2, 2, 3, 3]],
        class_id=[0, 1, 2],
        tracker_id=[7, 8, 9],
        source_row=[10, 11, 12],
    )
    picked = d[np.array([True, False, True])]
    assert picked.class_id.tolist() == [0, 2]
    assert picked.tracker_id.tolist() == [7, 9] and picked.source_row.tolist() == [10, 12]
    one = d[1]
    assert len(one) == 1 and one.xyxy.tolist() == [[1, 1, 2, 2]]
    assert len(d[np.array([], dtype=np.int64)]) == 0


def test_empty_and_concatenate() -> None:
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4)
    both = Detections.concatenate(
        [make_detections([[0, 0, 1, 1]]), empty, make_detections([[1, 1, 2, 2]], source_row=[5])]
    )
    assert len(both) == 2 and both.source_row.tolist() == [0, 5]
    assert len(Detections.concatenate([])) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"xyxy": [[0, 0, 1]], "confidence": [1], "class_id": [0]},
            r"xyxy: expected shape \(N, 4\)",
        ),
        (
            {"xyxy": [[0, 0, 1, 1]], "confidence": [1, 2], "class_id": [0]},
            r"confidence: expected shape \(1,\), got \(2,\)",
        ),
        (
            {"xyxy": [[0, 0, 1, 1]], "confidence": [1], "class_id": [[0]]},
            r"class_id: expected shape",
        ),
        (
            {"xyxy": [[0, 0, 1, 1]], "confidence": [1], "class_id": [0], "tracker_id": [1, 2]},
            r"tracker_id: expected shape",
        ),
    ],
)
def test_validation_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Detections(**kwargs)


def test_anchors() -> None:
    d = make_detections([[10, 20, 30, 60]])
    assert d.anchors_xy().tolist() == [[20, 60]]
    assert d.anchors_xy("center").tolist() == [[20, 40]]
    assert d.anchors_xy("top_center").tolist() == [[20, 20]]
    with pytest.raises(ValueError, match="unknown anchor"):
        d.anchors_xy("left")  # type: ignore[arg-type]


def test_event_ids_are_stable_and_distinct() -> None:
    a = LineCrossed("box", "cam", "l1", 5, "in", "car", 100, 1.0)
    b = LineCrossed("box", "cam", "l1", 5, "in", "car", 100, 1.0)
    c = LineCrossed("box", "cam", "l1", 6, "in", "car", 100, 1.0)
    assert a.id == b.id != c.id
    with pytest.raises(AttributeError):
        a.direction = "out"  # type: ignore[misc]

"""``RoadClasses`` (per-label lookup tables, riders folded only when a frame has both) gives exactly
what the straightforward version it replaced gave: seeded random frames of every kind of label,
riders on wheels, scores to be stretched, data columns and tracker ids."""

from __future__ import annotations

import numpy as np
import pytest

from carbonedge.runtime.base.types import Detections
from carbonedge.vision.coco import COCO80
from carbonedge.vision.taxonomy import RoadClasses, RoadClassesConfig


def reference_call(rc: RoadClasses, detections: Detections) -> Detections:
    """The mapping as first written (NumPy over road classes, riders always looked for)."""
    if len(detections) == 0:
        return detections
    cls = rc._to_road[detections.class_id]
    h = detections.xyxy[:, 3] - detections.xyxy[:, 1]
    safe = np.maximum(cls, 0)
    keep = (cls >= 0) & (detections.confidence >= rc._label_min_score[detections.class_id])
    keep &= h >= rc._min_h[safe]
    xyxy = detections.xyxy.copy()
    score = detections.confidence.copy()
    keep &= ~rc._fold_riders(xyxy, score, cls, keep)
    rows = np.flatnonzero(keep)
    stretch = rows[rc._stretch[cls[rows]]]
    if len(stretch):
        low, start = rc._min_score[cls[stretch]], float(rc.track_start_score)  # type: ignore[arg-type]
        score[stretch] = start + (score[stretch] - low) * (1.0 - start) / (1.0 - low)
    out = detections[rows]
    out.xyxy, out.confidence = xyxy[rows], score[rows]
    out.class_id = cls[keep].astype(np.int32)
    return out


LABELS = ["car", "truck", "train", "bus", "motorcycle", "bicycle", "person", "boat", "dog"]


def random_frame(rng: np.random.Generator, names: tuple[str, ...]) -> Detections:
    n = int(rng.integers(0, 12))
    x0, y0 = rng.uniform(0, 300, n), rng.uniform(0, 200, n)
    w, h = rng.uniform(2, 80, n), rng.uniform(2, 80, n)
    if n > 1 and rng.random() < 0.5:  # a rider: a person box on a two-wheeler box
        x0[1], y0[1], w[1], h[1] = x0[0] + 2, y0[0] - 20, w[0] - 4, h[0] + 10
    labels = [str(rng.choice(LABELS)) if rng.random() < 0.7 else "" for _ in range(n)]
    if n > 1 and rng.random() < 0.5:
        labels[0], labels[1] = str(rng.choice(["bicycle", "motorcycle"])), "person"
    ids = [names.index(lab) if lab in names else int(rng.integers(0, len(names))) for lab in labels]
    return Detections(
        np.stack([x0, y0, x0 + w, y0 + h], axis=1) if n else np.zeros((0, 4)),
        rng.uniform(0.2, 1.0, n), np.asarray(ids, np.int32),
        tracker_id=rng.integers(-1, 50, n), data={"speed_kmh": rng.uniform(0, 90, n)},
    )  # fmt: skip


def same(a: Detections, b: Detections) -> None:
    for name in ("xyxy", "confidence", "class_id", "tracker_id", "source_row"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype, name
        np.testing.assert_array_equal(x, y, err_msg=name)
    assert set(a.data) == set(b.data)
    for name in a.data:
        np.testing.assert_array_equal(a.data[name], b.data[name])


@pytest.mark.parametrize(
    ("names", "start"),
    [(tuple(COCO80), None), (tuple(COCO80), 0.5), (("vehicle", "person", "bicycle"), 0.6),
     (("car", "person", "motorbike", "lorry", "boat"), 0.35)],
)  # fmt: skip
def test_road_classes_match_the_reference_on_random_frames(names, start) -> None:
    rc = RoadClasses(RoadClassesConfig(), names, track_start_score=start)
    rng = np.random.default_rng(7)
    for _ in range(400):
        frame = random_frame(rng, names)
        before = (frame.xyxy.copy(), frame.confidence.copy(), frame.class_id.copy())
        same(rc(frame), reference_call(rc, frame))
        for kept, now in zip(before, (frame.xyxy, frame.confidence, frame.class_id), strict=True):
            np.testing.assert_array_equal(kept, now)  # the input is never edited


def test_the_output_owns_its_arrays() -> None:
    """Later stages edit class ids in place (riders): the detect stage's copy must not change."""
    rc = RoadClasses(RoadClassesConfig(), tuple(COCO80))
    d = Detections([[0, 0, 50, 40]], [0.9], [COCO80.index("car")])
    out = rc(d)
    out.class_id[:] = 99
    out.xyxy[:] = -1
    out.confidence[:] = 0
    assert d.class_id[0] == COCO80.index("car") and d.xyxy[0, 0] == 0 and d.confidence[0] > 0.8

"""``SizeClasses`` (plain Python over a frame's few rows, a sorted list per track) gives exactly
the classes of the NumPy version first written (masks over the frame, ``np.median`` per row)."""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np
from conftest import make_detections

from carbonedge.vision.size_classes import VAN_MIN, CarScale, SizeClasses
from carbonedge.vision.taxonomy import ROAD_V1

NAMES = (*ROAD_V1, "vehicle")
CAR, VAN, BUS, HGV, VEHICLE = (NAMES.index(n) for n in ("car", "van", "bus", "hgv", "vehicle"))


class Reference:
    """The first version: NumPy masks and a median over each track's deque."""

    def __init__(self) -> None:
        self.scale = CarScale(sample_every_s=0.0, min_tracks=4)
        self.ratios: dict[int, deque] = defaultdict(lambda: deque(maxlen=64))

    def __call__(self, tracked, t_s, bounds):
        ids, cls, xyxy = tracked.tracker_id, tracked.class_id, tracked.xyxy
        whole = ((xyxy[:, 0] > bounds[0] + 2) & (xyxy[:, 1] > bounds[1] + 2)
                 & (xyxy[:, 2] < bounds[2] - 2) & (xyxy[:, 3] < bounds[3] - 2))  # fmt: skip
        cars = np.flatnonzero((cls == CAR) & (ids >= 0) & whole & (tracked.confidence >= 0.5))
        for row in cars:
            y0, y1 = float(xyxy[row, 1]), float(xyxy[row, 3])
            self.scale.observe(int(ids[row]), y1, y1 - y0, t_s)
        rows = np.flatnonzero(np.isin(cls, [CAR, VAN, BUS, HGV, VEHICLE]) & (ids >= 0))
        if not len(rows) or self.scale.coef is None:
            return tracked
        a, b = self.scale.coef
        car_h = a + b * xyxy[rows, 3].astype(np.float64)
        car_h = np.where(car_h >= 4.0, car_h, np.nan)  # under 4 px: too far to judge
        ratio = np.where(whole[rows], (xyxy[rows, 3] - xyxy[rows, 1]) / car_h, np.nan)
        for row, r in zip(rows.tolist(), ratio.tolist(), strict=True):
            track = self.ratios[int(ids[row])]
            if r == r:
                track.append(r)
            if len(track) < 3:
                continue
            size, label = float(np.median(track)), int(cls[row])
            if label in (BUS, HGV):
                if size <= 1.5:
                    cls[row] = VAN if size >= VAN_MIN else CAR
            elif label == VEHICLE:
                cls[row] = CAR if 0.6 <= size <= 1.5 else label
            elif size >= 2.0:
                cls[row] = HGV
        return tracked


def test_the_fast_size_classes_match_the_numpy_reference() -> None:
    rng = np.random.default_rng(11)
    fast = SizeClasses(NAMES, scale=CarScale(sample_every_s=0.0, min_tracks=4))
    ref = Reference()
    bounds = (0.0, 0.0, 640.0, 480.0)
    relabelled = 0
    for frame in range(400):
        n = int(rng.integers(0, 9))
        y1 = rng.uniform(10, 482, n)  # some too far to judge, some past the bottom edge
        h = 0.2 * y1 * rng.choice([0.5, 1.0, 1.25, 1.4, 1.8, 2.5], n) * rng.normal(1, 0.05, n)
        x0 = rng.uniform(-5, 600, n)
        xyxy = np.column_stack([x0, y1 - h, x0 + 1.2 * h, np.minimum(y1, 480.0)])
        labels = rng.choice([CAR, CAR, CAR, VAN, BUS, HGV, VEHICLE, NAMES.index("pedestrian")], n)
        ids = rng.integers(-1, 40, n)
        _, first = np.unique(ids, return_index=True)  # a frame's tracker ids are distinct
        keep = np.sort(first)
        det = make_detections(xyxy[keep], confidence=rng.uniform(0.3, 0.95, len(keep)),
                              class_id=labels[keep], tracker_id=ids[keep])  # fmt: skip
        a = fast(_copy(det), frame * 0.1, bounds)
        b = ref(_copy(det), frame * 0.1, bounds)
        np.testing.assert_array_equal(a.class_id, b.class_id, err_msg=f"frame {frame}")
        relabelled += int((a.class_id != det.class_id).sum())
    assert fast.scale.coef is not None and relabelled > 50  # the rule was exercised


def _copy(det):
    return make_detections(
        det.xyxy.copy(),
        confidence=det.confidence.copy(),
        class_id=det.class_id.copy(),
        tracker_id=det.tracker_id.copy(),
    )

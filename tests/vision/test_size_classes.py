"""Size classes: a track's height in the scene's own car heights settles light against heavy;
scripted scenes through the real ByteTrack (vision/size_classes.py, stage "size_classes")."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_detections
from pydantic import ValidationError

from carbonedge.vision.size_classes import CarScale, SizeClasses
from carbonedge.vision.taxonomy import ROAD_V1, RoadClassesConfig
from carbonedge.vision.tracking.bytetrack import ByteTrack, ByteTrackConfig

NAMES = (*ROAD_V1, "vehicle")
CAR, VAN, BUS, HGV, VEHICLE = (NAMES.index(n) for n in ("car", "van", "bus", "hgv", "vehicle"))
FPS = 10.0
FRAME = (0.0, 0.0, 640.0, 480.0)  # what the detector saw: the whole 640x480 picture


def car_height_px(y_bottom: float) -> float:
    """The scripted scene's car height: 0.2 px per row below the horizon at y = 0."""
    return 0.2 * y_bottom


def test_the_car_scale_is_fitted_from_many_cars_and_ignores_outliers() -> None:
    scale = CarScale(sample_every_s=0.0)
    rng = np.random.default_rng(3)
    for k in range(200):
        y = float(rng.uniform(100, 400))
        h = car_height_px(y) * float(rng.normal(1.0, 0.05))
        if k % 10 == 0:
            h *= 3.0  # a lorry the detector called a car now and then
        scale.observe(k % 20, y, h, t_s=k * 0.1)
    a, b = scale.coef
    assert b == pytest.approx(0.2, rel=0.05) and abs(a) < 4.0
    assert scale.height_px(300.0) == pytest.approx(60.0, rel=0.05)


@pytest.mark.parametrize(
    ("samples", "why"),
    [
        ([(tid, 100 + 30 * tid, 20 + 6 * tid) for tid in range(5)] * 10, "5 cars: too few"),
        ([(tid, 200.0, 40.0) for tid in range(20)] * 3, "all on one row: no slope"),
    ],
)
def test_the_car_scale_waits_for_enough_cars_over_enough_rows(samples, why) -> None:
    scale = CarScale(sample_every_s=0.0)
    for k, (tid, y, h) in enumerate(samples):
        scale.observe(tid, y, h, t_s=k * 0.1)
    assert scale.coef is None, why


def _scene(extra_class: int, extra_heights: float, frames: int = 60, cut_off: bool = False):
    """Twelve cars driving down three lanes (heights from ``car_height_px``), and one extra
    vehicle of ``extra_heights`` car heights labelled ``extra_class``, entering last (with
    ``cut_off``: its box runs past the bottom edge, clipped there)."""
    for i in range(frames):
        boxes, classes = [], []
        for lane, x in enumerate((40.0, 160.0, 280.0)):
            for k in range(4):
                y = 120.0 + 12.0 * i + 70.0 * k + 20.0 * lane  # moving down the image
                if y > 470:
                    continue
                h = car_height_px(y)
                boxes.append([x, y - h, x + 1.3 * h, y])
                classes.append(CAR)
        y = 150.0 + 5.0 * i + (340.0 if cut_off else 0.0)
        if i >= 30:
            h = extra_heights * car_height_px(y)
            boxes.append([420.0, y - h, 420.0 + h, min(y, FRAME[3])])
            classes.append(extra_class)
        yield i / FPS, make_detections(boxes, confidence=0.8, class_id=classes)


def _extra_classes(extra_class: int, extra_heights: float, cut_off: bool = False) -> list[int]:
    tracker = ByteTrack(ByteTrackConfig(), fps=FPS)
    sizes = SizeClasses(NAMES, scale=CarScale(sample_every_s=0.0, min_tracks=6))
    out = []
    for t, d in _scene(extra_class, extra_heights, cut_off=cut_off):
        tracked = sizes(tracker.update(d), t, FRAME)
        extra = tracked.xyxy[:, 0] >= 400
        out += tracked.class_id[extra].tolist()
        assert (tracked.class_id[~extra] == CAR).all()  # the cars stay cars
    assert sizes.scale.coef is not None
    return out


@pytest.mark.parametrize(
    ("label", "heights", "becomes"),
    [
        (HGV, 1.2, CAR),  # a pickup or SUV labelled "truck": a car in road-v1
        (HGV, 1.4, VAN),  # a box van labelled "truck"
        (BUS, 1.4, VAN),  # a minibus-sized "bus"
        (HGV, 2.5, HGV),  # a lorry stays a lorry
        (BUS, 1.8, BUS),  # between the two thresholds the detector's label stands
        (CAR, 2.4, HGV),  # a lorry seen at an angle, labelled "car"
        (CAR, 1.0, CAR),
        (VEHICLE, 1.0, CAR),  # an unclassed motion track of a car's size
        (VEHICLE, 0.4, VEHICLE),  # too small to be a car: left unclassed
        (VEHICLE, 2.5, VEHICLE),  # a big blob: shadows, glare or two cars; never a lorry
    ],
)
def test_tracks_are_classed_by_their_height_in_car_heights(label, heights, becomes) -> None:
    classes = _extra_classes(label, heights)
    assert classes, "the tracker never confirmed the extra vehicle"
    assert classes[-1] == becomes
    assert classes[0] == label  # decided on the track's own rows (min_rows), not before


def test_a_box_cut_off_by_the_picture_edge_measures_nothing() -> None:
    """A lorry half out of the picture has a car-sized box: it must not become a van."""
    classes = _extra_classes(HGV, 2.5, cut_off=True)
    assert classes and set(classes) == {HGV}


@pytest.mark.parametrize(("y_bottom", "becomes"), [(15.0, HGV), (100.0, CAR)])
def test_where_cars_shrink_under_4_px_nothing_is_measured(y_bottom, becomes) -> None:
    """A car-sized "truck": near the horizon (cars 3 px tall there) too far to judge."""
    sizes = SizeClasses(NAMES)
    sizes.scale.coef = (0.0, 0.2)  # a fitted scene: cars 0.2 px tall per row below y = 0
    h = car_height_px(y_bottom)
    for i in range(5):
        truck = make_detections([[200, y_bottom - h, 200 + 1.3 * h, y_bottom]], class_id=HGV,
                                tracker_id=np.array([1]))  # fmt: skip
        out = int(sizes(truck, i * 0.1, FRAME).class_id[0])
    assert out == becomes


def test_nothing_is_relabelled_before_the_scene_has_a_car_scale() -> None:
    sizes = SizeClasses(NAMES)
    lorry = make_detections([[10, 10, 30, 30]], class_id=HGV, tracker_id=np.array([1]))
    for i in range(10):
        assert sizes(lorry, i * 0.1, FRAME).class_id[0] == HGV
    assert sizes.scale.coef is None


def test_the_thresholds_must_leave_light_under_heavy() -> None:
    with pytest.raises(ValidationError, match="light_max_car_heights .* must be under"):
        RoadClassesConfig(light_max_car_heights=2.0, heavy_min_car_heights=1.8)

"""Motion detector: unit behaviour, the synthetic scene end to end, and the real highway clip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pydantic
import pytest
from conftest import make_frame

from carbonedge.devices.sources.synthetic import SyntheticScene, SyntheticSceneConfig
from carbonedge.runtime.base.types import Frame
from carbonedge.vision.detectors import create_detector
from carbonedge.vision.detectors.motion import MotionDetector, MotionDetectorConfig


def road_image(
    seed: int = 0,
    *,
    car_xy: tuple[int, int] | None = None,
    level: int = 90,
    car_bgr: tuple[int, int, int] = (230, 200, 60),
) -> np.ndarray:
    """(240, 320, 3) grey road with sensor noise and optionally a 40x24 px car at car_xy."""
    rng = np.random.default_rng(seed)
    image = np.clip(level + rng.normal(0, 2, (240, 320, 1)), 0, 255).repeat(3, axis=2)
    image = image.astype(np.uint8)
    if car_xy is not None:
        x, y = car_xy
        image[y : y + 24, x : x + 40] = car_bgr
        image[y + 4 : y + 10, x + 4 : x + 36] = 30  # dark windscreen: a second grey level
    return image


def detect_sequence(det: MotionDetector, images: list[np.ndarray], source_id: str = "cam") -> list:
    frames = [make_frame(img, index=i, source_id=source_id) for i, img in enumerate(images)]
    return [det.detect(frame) for frame in frames]


def test_static_scene_gives_nothing_and_a_moving_car_one_box() -> None:
    det = MotionDetector(MotionDetectorConfig(warmup_frames=5))
    out = detect_sequence(det, [road_image(i) for i in range(10)])
    assert all(len(d) == 0 for d in out)
    car = det.detect(make_frame(road_image(10, car_xy=(100, 80)), index=10))
    assert len(car) == 1 and car.class_id.tolist() == [0]
    np.testing.assert_allclose(car.xyxy[0], [100, 80, 140, 104], atol=2.5)
    assert 0.8 < car.confidence[0] <= 1.0
    assert det.class_names == ("vehicle",) and det.name == "motion"


@pytest.mark.parametrize(
    ("channels", "box"), [("gray", [104, 84, 136, 90]), ("bgr", [100, 80, 140, 104])]
)
def test_red_car_on_grey_road_needs_colour(channels: str, box: list[int]) -> None:
    red = (40, 40, 220)  # grey level 94 on a road at 90: only the windscreen differs in grey
    det = MotionDetector(MotionDetectorConfig(warmup_frames=3, channels=channels, min_area_px=20))
    detect_sequence(det, [road_image(i) for i in range(3)])
    found = det.detect(make_frame(road_image(3, car_xy=(100, 80), car_bgr=red), index=3))
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], box, atol=2.5)
    assert det._states["cam"].background.shape[0] == (1 if channels == "gray" else 3)


def test_no_detections_during_warmup_and_no_ghost_of_the_first_frame() -> None:
    det = MotionDetector(MotionDetectorConfig(warmup_frames=20))
    moving = [road_image(i, car_xy=(10 + 12 * i, 100)) for i in range(20)]  # car leaves its start
    assert all(len(d) == 0 for d in detect_sequence(det, moving))
    empty = det.detect(make_frame(road_image(20), index=20))
    assert len(empty) == 0  # the median background does not keep the car of frame 0
    no_warmup = MotionDetector(MotionDetectorConfig(warmup_frames=0))
    ghosts = detect_sequence(no_warmup, moving[:1] + [road_image(1)])
    assert len(ghosts[0]) == 0 and len(ghosts[1]) == 1  # first-frame background: a ghost


def test_sources_are_independent_and_forget_evicts() -> None:
    det = MotionDetector(MotionDetectorConfig(warmup_frames=3))
    detect_sequence(det, [road_image(i, level=90) for i in range(4)], source_id="a")
    detect_sequence(det, [road_image(i, level=150) for i in range(4)], source_id="b")
    assert set(det.source_ids) == {"a", "b"}
    assert len(det.detect(make_frame(road_image(5, level=150), source_id="b"))) == 0
    assert len(det.detect(make_frame(road_image(5, level=90, car_xy=(50, 50)), source_id="a"))) == 1
    det.forget("a")
    det.forget("unknown")
    assert det.source_ids == ("b",)
    assert len(det.detect(make_frame(road_image(6, level=90, car_xy=(50, 50)), source_id="a"))) == 0


def test_frame_size_change_relearns() -> None:
    det = MotionDetector(MotionDetectorConfig(warmup_frames=0))
    detect_sequence(det, [road_image(i) for i in range(3)])
    small = np.ascontiguousarray(road_image(4, car_xy=(0, 0))[:120, :160])
    assert len(det.detect(make_frame(small, index=4))) == 0
    assert det._states["cam"].background.shape == (1, 120, 160)


def test_global_change_resets_the_background() -> None:
    det = MotionDetector(MotionDetectorConfig(warmup_frames=2))
    detect_sequence(det, [road_image(i, level=80) for i in range(3)])
    assert len(det.detect(make_frame(road_image(3, level=160), index=3))) == 0  # exposure jump
    after = det.detect(make_frame(road_image(4, level=160, car_xy=(200, 150)), index=4))
    assert len(after) == 1  # background now at the new level, the car is found


def test_small_blobs_dropped_and_fragments_merged() -> None:
    image = road_image(1)
    image[50:53, 50:53] = 250  # 9 px speck
    image[100:130, 100:120] = 230
    image[100:130, 123:143] = 230  # same vehicle, split by a 3 px gap
    det = MotionDetector(MotionDetectorConfig(warmup_frames=1, min_area_px=50, dilate_px=3))
    det.detect(make_frame(road_image(0)))
    out = det.detect(make_frame(image, index=1))
    np.testing.assert_allclose(out.xyxy, [[100, 100, 143, 130]], atol=1.5)
    split = MotionDetector(MotionDetectorConfig(warmup_frames=1, min_area_px=50, dilate_px=0))
    split.detect(make_frame(road_image(0)))
    assert len(split.detect(make_frame(image, index=1))) == 2


def test_registry_and_config() -> None:
    det = create_detector(MotionDetectorConfig())
    assert isinstance(det, MotionDetector)
    det.warmup()
    with pytest.raises(pydantic.ValidationError):
        MotionDetectorConfig(alpha=0.0)
    with pytest.raises(pydantic.ValidationError):
        MotionDetectorConfig(model="x.onnx")  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        MotionDetectorConfig(threshold_levels=0.0)
    with pytest.raises(pydantic.ValidationError):
        MotionDetectorConfig(threshold=25.0)  # type: ignore[call-arg]  (renamed: unit in the name)
    assert MotionDetectorConfig(threshold_levels=12.5).threshold_levels == 12.5


def _at_line(xyxy: np.ndarray, line_y: float) -> int:
    return int(((xyxy[:, 1] <= line_y) & (xyxy[:, 3] >= line_y)).sum())


@pytest.mark.parametrize("seed", [7, 2])
def test_synthetic_scene_blobs_match_vehicles_at_the_line(seed: int) -> None:
    scene = SyntheticScene(SyntheticSceneConfig(id="syn", seed=seed, duration_s=30.0))
    det = MotionDetector(MotionDetectorConfig())
    gt = scene.ground_truth
    line_y = gt.counting_line_px[0][1]
    agree = busy = 0
    for frame in scene:
        found = det.detect(frame)
        if frame.index < det.config.warmup_frames:
            continue
        boxes = np.array([b for _, b in gt.boxes_at(frame.t_mono_s)], np.float32).reshape(-1, 4)
        expected = _at_line(boxes, line_y)
        if expected or len(found):
            busy += 1
            agree += _at_line(found.xyxy, line_y) == expected
    assert busy > 60  # vehicles are at the line in many frames: the check is not about empty road
    assert agree / busy >= 0.9


def test_synthetic_scene_boxes_overlap_ground_truth() -> None:
    scene = SyntheticScene(SyntheticSceneConfig(id="syn", seed=1, duration_s=20.0))
    det = MotionDetector(MotionDetectorConfig())
    matched = total = 0
    for frame in scene:
        found = det.detect(frame)
        if frame.index < det.config.warmup_frames or frame.index % 3:
            continue
        for _, (x1, y1, x2, y2) in scene.ground_truth.boxes_at(frame.t_mono_s):
            if (x2 - x1) * (y2 - y1) < 400:
                continue  # far away: a few pixels
            total += 1
            fx1, fy1, fx2, fy2 = found.xyxy.T
            ix = np.clip(np.minimum(fx2, x2) - np.maximum(fx1, x1), 0, None)
            iy = np.clip(np.minimum(fy2, y2) - np.maximum(fy1, y1), 0, None)
            areas = (fx2 - fx1) * (fy2 - fy1)
            iou = ix * iy / (areas + (x2 - x1) * (y2 - y1) - ix * iy)
            matched += bool(len(found)) and iou.max() >= 0.5
    assert total > 50 and matched / total >= 0.85


# Hand count of MEDIA.md: frames at which each vehicle reaches row 150, and its lane (x < 170: left)
_HIGHWAY_ARRIVALS = [
    (f, "left")
    for f in (
        150,
        285,
        365,
        428,
        665,
        770,
        820,
        870,
        915,
        1000,
        1090,
        1185,
        1215,
        1355,
        1465,
        1510,
        1680,
    )
] + [(f, "right") for f in (265, 790, 855, 890, 1055, 1110, 1405, 1525, 1640, 1655)]


@pytest.mark.slow
@pytest.mark.shared
def test_highway_clip_has_a_blob_at_the_line_per_hand_counted_vehicle(shared_dir: Path) -> None:
    cap = cv2.VideoCapture(str(shared_dir / "media/traffic/highway_cdnet_320x240.avi"))
    det = MotionDetector(MotionDetectorConfig(warmup_frames=120, dilate_px=2))
    at_line: list[list[float]] = []  # per frame: x centres of blobs spanning row 150
    while True:
        ok, image = cap.read()
        if not ok:
            break
        found = det.detect(Frame("highway", len(at_line), len(at_line) / 60, 0.0, image, 60.0))
        spans = (found.xyxy[:, 1] <= 150) & (found.xyxy[:, 3] >= 150)
        at_line.append(((found.xyxy[spans, 0] + found.xyxy[spans, 2]) / 2).tolist())
    cap.release()
    assert len(at_line) == 1699
    hits = 0
    for frame, lane in _HIGHWAY_ARRIVALS:
        near = [x for xs in at_line[max(frame - 20, 0) : frame + 10] for x in xs]
        hits += any((x < 170) == (lane == "left") for x in near)
    assert hits >= 25  # of 27
    busy = sum(1 for xs in at_line if xs)
    assert sum(len(xs) for xs in at_line) <= 1.15 * busy  # rarely more than one blob per vehicle

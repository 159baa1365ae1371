"""Lamp-pair vehicle candidates: scripted lamp pairs on a dark road, real dusk frames, and the
fused detector's ``headlights`` option."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import make_frame
from pydantic import ValidationError

from carbonedge.vision.detectors import create_detector
from carbonedge.vision.detectors.fused import FusedConfig, FusedDetector, _covered
from carbonedge.vision.detectors.headlights import HeadlightPairs, HeadlightsConfig
from carbonedge.vision.detectors.picodet import PicodetConfig

DUSK = "media/traffic/freeway_dusk_backlit_caltrans_marshrd_jblitzar.mp4"
HIGHWAY = "media/traffic/highway_cdnet_320x240.avi"
PICCADILLY = "media/traffic/junction_night_wet_london_piccadilly_jamcam_ministrudels.mp4"
# a ground plane 50 px per metre across at every row (metres = px / 50, the road plane seen from
# straight above): a 1.6 m car's lamps are 80 px apart, a 2.2 m lorry's 110 px
TOP_DOWN = {"image_to_world": [[0.02, 0, 0], [0, 0.02, 0], [0, 0, 1]]}


def night_frame(
    lamps: list[tuple[float, float]], *, road: int = 15, size_px: int = 3, shape=(240, 320)
) -> np.ndarray:
    """BGR frame of a dark road with square lamps (grey 230) centred at (x, y)."""
    image = np.full((*shape, 3), road, np.uint8)
    for x, y in lamps:
        x0, y0 = round(x - size_px / 2), round(y - size_px / 2)
        image[y0 : y0 + size_px, x0 : x0 + size_px] = 230
    return image


def drive(det: HeadlightPairs, frames: list[np.ndarray], source_id: str = "cam") -> list:
    return [
        det.detect(make_frame(image, index=i, source_id=source_id))
        for i, image in enumerate(frames)
    ]


def approaching_car(n: int, *, gap_px: float = 24.0, step_px: float = 3.0) -> list[np.ndarray]:
    """A car's headlights coming down the frame, ``gap_px`` apart, ``step_px`` per frame."""
    return [
        night_frame([(150, 80 + step_px * k), (150 + gap_px, 80 + step_px * k)]) for k in range(n)
    ]


def test_a_moving_lamp_pair_becomes_a_vehicle_box() -> None:
    det = HeadlightPairs(HeadlightsConfig())
    out = drive(det, approaching_car(8))
    counts = [len(b.xyxy) for b in out]
    assert counts[:2] == [0, 0]  # seen in min_frames = 3 frames first
    assert counts[3:] == [1] * 5
    x0, y0, x1, y1 = out[-1].xyxy[0]
    cy = 80 + 3.0 * 7 + 0.5  # pixel centres: a lamp on rows 100-102 has its centre at 101.5
    assert x0 < 150 < 174 < x1 and abs((x1 - x0) - 24 * 1.3) < 0.5  # width from the spacing
    assert y0 < cy < y1 and abs((y1 - cy) - 0.35 * (y1 - y0)) < 0.01  # lamps low in the box
    assert not out[-1].hgv.any()


def test_lamps_that_do_not_move_are_no_vehicle() -> None:
    """Street lights and a parked car's lamps pair, but they do not move."""
    det = HeadlightPairs(HeadlightsConfig())
    out = drive(det, [night_frame([(150, 120), (174, 120)])] * 8)
    assert all(len(b.xyxy) == 0 for b in out)


def test_daylight_does_nothing() -> None:
    """The same moving lamps on a bright road (mean grey above max_scene_luma): no boxes."""
    det = HeadlightPairs(HeadlightsConfig())
    frames = [
        night_frame([(150, 80 + 3 * k), (174, 80 + 3 * k)], road=120) for k in range(8)
    ]  # fmt: skip
    assert all(len(b.xyxy) == 0 for b in drive(det, frames))


def test_roi_boxes_are_in_frame_pixels_and_the_gate_is_the_whole_frame() -> None:
    """Lamps found in an ROI come back in full-frame pixels; a dark ROI in a bright frame (dark
    asphalt by day) is not a dark scene."""
    roi = (100, 60, 260, 200)
    det = HeadlightPairs(HeadlightsConfig())
    frames = approaching_car(8)
    out = [det.detect(make_frame(im, index=i), roi) for i, im in enumerate(frames)]
    x0, _, x1, _ = out[-1].xyxy[0]
    assert x0 < 150 < 174 < x1
    bright = []
    for image in frames:
        image = image.copy()
        image[:60] = image[200:] = 250  # bright sky and pavement above and below the ROI
        bright.append(image)
    det = HeadlightPairs(HeadlightsConfig())
    assert all(
        len(det.detect(make_frame(im, index=i), roi).xyxy) == 0 for i, im in enumerate(bright)
    )


@pytest.mark.parametrize(
    ("gap_px", "y_px", "expected"),
    [
        (24.0, 150.0, "vehicle"),  # near the bottom: a car's spacing is allowed
        (150.0, 150.0, None),  # wider than 0.3 x frame width x row scale
        (40.0, 10.0, None),  # near the top of the frame (far away) too wide for a car
    ],
)
def test_perspective_rule_without_ground_plane(gap_px, y_px, expected) -> None:
    det = HeadlightPairs(HeadlightsConfig())
    frames = [night_frame([(80 + 2 * k, y_px), (80 + 2 * k + gap_px, y_px)]) for k in range(8)]
    out = drive(det, frames)
    assert (len(out[-1].xyxy) == 1) == (expected is not None)


@pytest.mark.parametrize(
    ("gap_px", "hgv"),
    [(80.0, False), (110.0, True), (30.0, None), (160.0, None)],  # 1.6 m, 2.2 m, 0.6 m, 3.2 m
)
def test_ground_plane_spacing_in_metres_and_hgv(gap_px, hgv) -> None:
    det = HeadlightPairs(HeadlightsConfig(ground_plane=TOP_DOWN, max_area_px=50))
    frames = [
        night_frame([(40 + 5 * k, 150), (40 + 5 * k + gap_px, 150)], size_px=4) for k in range(8)
    ]
    last = drive(det, frames)[-1]
    if hgv is None:
        assert len(last.xyxy) == 0
    else:
        assert last.hgv.tolist() == [hgv]


def test_sources_are_separate_and_forgotten() -> None:
    det = HeadlightPairs(HeadlightsConfig())
    frames = approaching_car(8)
    for i, image in enumerate(frames[:5]):
        det.detect(make_frame(image, index=i, source_id="a"))
    assert len(det.detect(make_frame(frames[5], index=5, source_id="b")).xyxy) == 0
    det.forget("a")
    assert len(det.detect(make_frame(frames[6], index=6, source_id="a")).xyxy) == 0


def test_fused_option_is_validated() -> None:
    assert FusedConfig().headlights is False
    assert FusedConfig(headlights=True).headlights is True
    assert FusedConfig(headlights={"max_scene_luma": 50}).headlights.max_scene_luma == 50
    with pytest.raises(ValidationError, match="headlights"):
        FusedConfig(headlights={"max_scene_luma": 300})
    with pytest.raises(ValidationError, match="headlights"):
        FusedConfig(headlights={"nope": 1})


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


def _fused(shared_dir: Path, **settings) -> FusedDetector:
    model = str(shared_dir / "models" / PicodetConfig().model)
    det = create_detector(FusedConfig(detector={"type": "picodet", "model": model}, **settings))
    assert isinstance(det, FusedDetector)
    return det


def test_real_dusk_frames_give_moving_pairs(shared_dir: Path) -> None:
    """On the dusk freeway (mean grey ~55) lamps and pale roofs pair and move: candidates."""
    det = HeadlightPairs(HeadlightsConfig())
    out = drive(det, _frames(shared_dir / DUSK, 60))
    assert sum(len(b.xyxy) for b in out) > 0


def test_lit_night_junction_is_not_a_dark_scene(shared_dir: Path) -> None:
    """Piccadilly at night is lit and auto-exposed (frame mean ~130): the gate keeps the source
    off; forced on, its shop lights and neon pair up (why the gate is there)."""
    frames = _frames(shared_dir / PICCADILLY, 30)
    assert all(len(b.xyxy) == 0 for b in drive(HeadlightPairs(HeadlightsConfig()), frames))
    forced = drive(HeadlightPairs(HeadlightsConfig(max_scene_luma=255)), frames)
    assert sum(len(b.xyxy) for b in forced) > 30


def test_fused_with_headlights_is_unchanged_by_day(shared_dir: Path) -> None:
    """On the daylit highway clip the option changes nothing (the scene is not dark)."""
    plain, lit = _fused(shared_dir), _fused(shared_dir, headlights=True)
    assert lit.name.endswith("+headlights") and lit.class_names == plain.class_names
    for i, image in enumerate(_frames(shared_dir / HIGHWAY, 40)):
        a = plain.detect(make_frame(image, index=i, fps=60.0))
        b = lit.detect(make_frame(image, index=i, fps=60.0))
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.class_id, b.class_id)


def test_fused_adds_pairs_in_the_dark(shared_dir: Path) -> None:
    """Scripted night: the model sees nothing in a black frame with two lamps; the pair is added
    as a vehicle, and the motion blob on the same lamps is not added twice."""
    det = _fused(shared_dir, headlights=True, motion={"warmup_frames": 0, "min_area_px": 4})
    vehicle = det.class_names.index("vehicle")
    outs = [det.detect(make_frame(im, index=i)) for i, im in enumerate(approaching_car(8))]
    last = outs[-1]
    last = last[np.flatnonzero(last.confidence >= det.config.cover_score)]  # not the weak boxes
    assert (last.class_id == vehicle).all()
    is_pair = np.isclose(last.confidence, HeadlightsConfig().confidence)
    assert is_pair.sum() == 1  # the model box-free pair
    assert len(outs[1]) > 0 and not np.isclose(outs[1].confidence, 0.6).any()  # blobs first
    blobs = last.xyxy[~is_pair]
    assert (_covered(blobs, last.xyxy[is_pair]) <= det.config.max_overlap).all()


def test_fused_classes_wide_pairs_as_hgv_with_a_ground_plane(shared_dir: Path) -> None:
    det = _fused(shared_dir, headlights={"ground_plane": TOP_DOWN, "max_area_px": 50})
    hgv = det.class_names.index("hgv")  # appended: the COCO model has no such class
    frames = [
        night_frame([(40 + 5 * k, 150), (150 + 5 * k, 150)], size_px=4) for k in range(8)
    ]  # fmt: skip
    last = [det.detect(make_frame(im, index=i)) for i, im in enumerate(frames)][-1]
    pair = np.isclose(last.confidence, HeadlightsConfig().confidence)
    assert last.class_id[pair].tolist() == [hgv]

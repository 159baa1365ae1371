"""Local contrast normalisation (CLAHE on lightness) before detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import make_frame
from test_deimv2 import CARS, HIGHWAY, assert_found, read_frames

from carbonedge.vision.detectors.contrast import clahe_bgr
from carbonedge.vision.detectors.picodet import PicodetConfig, PicodetDetector


def test_clahe_spreads_a_washed_out_picture_and_keeps_its_size() -> None:
    rng = np.random.default_rng(0)
    washed = (200 + rng.integers(0, 12, (120, 200, 3))).astype(np.uint8)  # haze: 12 grey levels
    out = clahe_bgr(washed)
    assert out.shape == washed.shape and out.dtype == np.uint8
    assert np.ptp(out[..., 1]) > 2 * np.ptp(washed[..., 1])


def test_clahe_leaves_a_flat_grey_picture_flat() -> None:
    flat = np.full((64, 64, 3), 90, np.uint8)
    assert np.ptp(clahe_bgr(flat).astype(int)) <= 2  # contrast-limited: no noise invented


def test_detector_with_clahe_on_a_hazed_frame(shared_dir: Path) -> None:
    """The highway frames washed out into haze (an eighth of the contrast, lifted to pale grey):
    the plain detector finds about half of the cars (5 boxes for 10 cars), with CLAHE all."""
    frames = read_frames(shared_dir / HIGHWAY, set(CARS))
    model = str(shared_dir / "models" / PicodetConfig().model)
    # boxes from 0.4, where a track can start (the default 0.1 also keeps weak ones)
    det = PicodetDetector(PicodetConfig(model=model, contrast="clahe", score_threshold=0.4))
    plain = PicodetDetector(PicodetConfig(model=model, score_threshold=0.4))
    plain_boxes = 0
    for index, cars in CARS.items():
        hazed = (frames[index].astype(np.float32) * 0.12 + 150).astype(np.uint8)
        assert_found(det.detect(make_frame(hazed, index=index)), det, cars)
        plain_boxes += len(plain.detect(make_frame(hazed, index=index)))
    assert plain_boxes < sum(len(cars) for cars in CARS.values())  # CLAHE is what finds them

"""Night: the measured darkness switch turns the day smoke path off and looks for glowing points
and lines instead. No real night tower sequence was found, so these tests darken real day frames
of an HPWREN tower (../shared) and draw a glowing line on a far ridge."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from carbonedge.runtime.base.types import Frame
from carbonedge.vision.fire import FireMonitor, FireMonitorConfig
from carbonedge.vision.fire.config import PixelDetectorConfig
from carbonedge.vision.fire.discover import discover
from carbonedge.vision.fire.pixels import PixelFireDetector

SEQ = "media/fire/positive/seq_hpwren_figlib_20200611_lp-n-mobo-c"
RIDGE_XY = (560, 545)  # a far ridge below the horizon of the 1280x853 frames


def darken(image: np.ndarray, rng: np.random.Generator, gain: float = 0.07) -> np.ndarray:
    """A day frame as the same camera would see it at night: dim, with sensor noise."""
    dark = image.astype(np.float32) * gain + rng.normal(0.0, 1.5, image.shape)
    return np.clip(dark, 0, 255).astype(np.uint8)


def glow(image: np.ndarray, length_px: int) -> np.ndarray:
    """A glowing orange line (a fire front) along the ridge, ``length_px`` long."""
    out = image.copy()
    x, y = RIDGE_XY
    cv2.line(out, (x, y), (x + length_px, y - length_px // 6), (60, 170, 255), 2)
    return out


def _night_run(shared_dir: Path, *, line: bool, start: str = "19_56") -> list:
    (unit,) = discover(shared_dir / SEQ)
    files = [p for p in unit.files if p.stem.split("T")[-1] >= start][:12]
    monitor = FireMonitor(FireMonitorConfig(), "box")
    rng = np.random.default_rng(5)
    events = []
    for i, path in enumerate(files):
        image = darken(cv2.imread(str(path)), rng)
        if line and i >= 4:
            image = glow(image, 16 + 4 * (i - 4))
        events += monitor.update(Frame("tower", i, 60.0 * i, 60.0 * i, image, 1 / 60))
        assert monitor.detector.last_mode.get("tower", "night") == "night"
    return events


@pytest.mark.slow
def test_glowing_line_on_a_dark_ridge_raises_a_fire_alarm(shared_dir: Path) -> None:
    events = _night_run(shared_dir, line=True)
    starts = [e for e in events if e.status == "start"]
    assert len(starts) == 1 and starts[0].classes == ("fire",)
    assert starts[0].frame_index <= 4 + 3  # three votes, 90 s of persistence
    x1, y1, x2, y2 = starts[0].boxes[0].xyxy
    assert x1 <= RIDGE_XY[0] + 40 and x2 >= RIDGE_XY[0] and y1 <= RIDGE_XY[1] <= y2 + 10


@pytest.mark.slow
@pytest.mark.parametrize("start", ["19_56", "20_34"])  # quiet frames; the plume's first minutes
def test_dark_frames_without_a_glow_raise_nothing(shared_dir: Path, start: str) -> None:
    assert _night_run(shared_dir, line=False, start=start) == []  # smoke is off at night


@pytest.mark.parametrize(
    ("levels", "modes"),
    [
        ((60, 40, 34, 40, 44, 46, 60), ["day", "day", "night", "night", "night", "day", "day"]),
        ((20, 36, 60), ["night", "night", "day"]),
    ],
)
def test_darkness_switch_has_hysteresis(levels: tuple[int, ...], modes: list[str]) -> None:
    det = PixelFireDetector(PixelDetectorConfig())
    rng = np.random.default_rng(0)
    base = rng.integers(0, 20, (120, 160, 1)).astype(np.float32)
    seen = []
    for i, level in enumerate((levels[0], *levels)):
        image = np.clip(base - 10 + level, 0, 255).astype(np.uint8).repeat(3, axis=2)
        image[..., 0] = np.clip(image[..., 0].astype(int) + 12, 0, 255)  # not grey
        det.detect(Frame("cam", i, 60.0 * i, 60.0 * i, image, 1 / 60))
        if i:
            seen.append(det.last_mode["cam"])
    assert seen == modes

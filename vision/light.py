"""Light state of a camera from frame statistics: day, dusk, night, glare, fog, with hysteresis.

A camera's auto-exposure aims the mid-tones at mid-grey (a median near 100-140 of 255 by day).
The statistics below are measured on a small grey copy of the frame (``width_px`` wide, area
interpolation: a few thousand pixels, well under a millisecond) and read as exposure physics:

- **dark** (dusk or night): the mean grey level (what auto-exposure meters) stays below
  ``dark_mean_level`` (a quarter of the range, about one stop under the usual target): the
  exposure ran out of gain and shutter time, the scene is underexposed. (The median would call a
  dark road under a bright overcast sky dusk: the camera exposes for the mean.)
  **night** when the top band (``sky_fraction`` of the rows: the sky, or the far road) is dark
  too (``sky_mean < night_sky_level``); **dusk** when the sky is still lit.
- **veiled** (glare or fog): the darkest 5 % of the pixels are no darker than
  ``veil_black_level`` and the global contrast ``(p95 - p5) / (p95 + p5)`` is below
  ``veil_contrast``: scattered light (haze, fog, rain on the lens, sun flare) adds a luminance
  veil to every pixel, which lifts the black level and compresses contrast; a clear scene always
  has near-black shadows, tyres and windows. **glare** when the light comes from ahead (the top
  band at least ``glare_sky_ratio`` times the median: backlit), **fog** otherwise.
- **day** otherwise.

``LightClassifier`` applies the rules to one sample; ``LightHysteresis`` turns samples into a
state that switches only after the new state was seen in every sample for ``hold_s`` seconds of
video time (the first sample sets the initial state at once: a camera that starts at night starts
in ``night``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "LIGHT_STATES",
    "LightHysteresis",
    "LightRules",
    "LightState",
    "LightStats",
    "classify_light",
    "light_stats",
]

LightState = Literal["day", "dusk", "night", "glare", "fog"]
LIGHT_STATES: tuple[str, ...] = ("day", "dusk", "night", "glare", "fog")


class LightRules(BaseModel):
    """Thresholds of the light classifier (grey levels 0-255 of the small grey copy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width_px: int = Field(64, ge=16, le=640, description="statistics on a grey copy this wide")
    sky_fraction: float = Field(
        0.2, gt=0, le=0.5, description="the top band of rows read as the sky (or far road)"
    )
    saturated_level: int = Field(
        250, ge=128, le=255, description="a pixel this bright or brighter counts as saturated"
    )
    dark_mean_level: float = Field(
        64.0, ge=0, le=255, description="mean below this: underexposed (dusk or night)"
    )
    night_sky_level: float = Field(
        50.0, ge=0, le=255, description="dark scene whose top band is below this: night"
    )
    veil_black_level: float = Field(
        80.0, ge=0, le=255, description="5th percentile at least this: black level lifted (veil)"
    )
    veil_contrast: float = Field(
        0.5, ge=0, le=1, description="veiled when (p95 - p5) / (p95 + p5) is also below this"
    )
    glare_sky_ratio: float = Field(
        1.3, ge=1, description="veiled and top band / median at least this: glare (else fog)"
    )


@dataclass(frozen=True)
class LightStats:
    """One sample's statistics (grey levels 0-255 unless named otherwise)."""

    mean: float
    p5: float
    p50: float
    p95: float
    sky_mean: float  # mean of the top band
    saturated_pct: float  # share of pixels at or above the saturated level, percent
    contrast: float  # (p95 - p5) / (p95 + p5), 0-1

    def to_dict(self) -> dict[str, float]:
        return {k: round(float(v), 3) for k, v in self.__dict__.items()}

    def describe(self) -> str:
        return (f"mean {self.mean:.0f}, p5 {self.p5:.0f}, median {self.p50:.0f}, "
                f"p95 {self.p95:.0f}, sky {self.sky_mean:.0f}, saturated "
                f"{self.saturated_pct:.1f} %, contrast {self.contrast:.2f}")  # fmt: skip


def light_stats(image: NDArray[np.uint8], rules: LightRules | None = None) -> LightStats:
    """Statistics of one frame, ``image`` (H, W, 3) BGR or (H, W) grey uint8.

    ``ValueError`` for an empty image or another dtype."""
    rules = rules or LightRules()
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"light_stats: expected a non-empty uint8 (H, W[, 3]) image, got "
                         f"{image.dtype} {image.shape}")  # fmt: skip
    h, w = image.shape[:2]
    width = min(rules.width_px, w)
    height = max(1, round(h * width / w))
    small = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    p5, p50, p95 = (float(v) for v in np.percentile(grey, (5, 50, 95)))
    sky = grey[: max(1, round(height * rules.sky_fraction))]
    return LightStats(
        mean=float(grey.mean()), p5=p5, p50=p50, p95=p95, sky_mean=float(sky.mean()),
        saturated_pct=float((grey >= rules.saturated_level).mean() * 100.0),
        contrast=(p95 - p5) / (p95 + p5) if p95 + p5 > 0 else 0.0,
    )  # fmt: skip


def classify_light(stats: LightStats, rules: LightRules | None = None) -> str:
    """The light state one sample suggests (module docstring: the rules)."""
    rules = rules or LightRules()
    if stats.mean < rules.dark_mean_level:
        return "night" if stats.sky_mean < rules.night_sky_level else "dusk"
    if stats.p5 >= rules.veil_black_level and stats.contrast < rules.veil_contrast:
        return "glare" if stats.sky_mean >= rules.glare_sky_ratio * stats.p50 else "fog"
    return "day"


class LightHysteresis:
    """Samples -> a light state that switches only after ``hold_s`` of agreeing samples."""

    def __init__(self, hold_s: float) -> None:
        if hold_s < 0:
            raise ValueError(f"hold_s must be >= 0, got {hold_s}")
        self.hold_s = hold_s
        self.state: str | None = None  # None until the first sample
        self._candidate: str | None = None
        self._candidate_since_s = 0.0

    def update(self, raw: str, t_s: float) -> bool:
        """One sample's state ``raw`` at video time ``t_s``; True when the state switched (the
        first sample sets it without counting as a switch)."""
        if self.state is None:
            self.state = raw
            return False
        if raw == self.state:
            self._candidate = None
            return False
        if raw != self._candidate:
            self._candidate, self._candidate_since_s = raw, t_s
        if t_s - self._candidate_since_s >= self.hold_s:
            self.state, self._candidate = raw, None
            return True
        return False

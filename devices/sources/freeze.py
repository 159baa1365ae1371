"""Frozen and blind camera detection: frames keep arriving but no longer change, or are uniform.

A camera whose encoder or server is stuck keeps delivering the same picture; Pyronear #421/#422
stayed blind for hours that way because only "no frames" was watched. Each checked frame is reduced
to a small grey thumbnail (INTER_AREA averages sensor noise) and compared with a *reference*
thumbnail: the mean absolute difference in grey levels (0-255) below ``change_threshold`` counts as
"unchanged". The reference is replaced only when a frame differs from it, so a slow change (dusk,
a parked car leaving) accumulates against it and is not mistaken for a freeze, as it would be if
consecutive frames of a 60 fps stream were compared. FFmpeg's ``freezedetect`` filter uses the same
idea with a default tolerance of -60 dB (0.001 of full scale, about 0.26 grey levels) and 2 s.

A frame whose thumbnail standard deviation is below ``uniform_std`` is uniform (lens covered,
video loss screen); with a mean below ``black_mean`` it is black. Either lasting ``after_s`` is
reported like a freeze: the camera delivers frames but sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

_THUMB_WIDTH_PX = 160


@dataclass(frozen=True)
class FreezeSettings:
    """Thresholds of ``FreezeDetector`` (grey levels 0-255, seconds)."""

    after_s: float = 10.0
    change_threshold: float = 0.3
    uniform_std: float = 2.0
    black_mean: float = 16.0
    check_interval_s: float = 0.5


def thumbnail(image: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(H, W, 3) or (H, W) uint8 -> (h, 160) float32 grey thumbnail (aspect kept)."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    h, w = grey.shape[:2]
    width = min(_THUMB_WIDTH_PX, w)
    height = max(1, round(h * width / w))
    return cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)


class FreezeDetector:
    """Feeds on (image, monotonic time); says whether the picture is frozen or blind, and why.

    ``update`` returns the current verdict: ``""`` (healthy) or a short reason such as
    ``"unchanged for 10.2 s"``, ``"black frames for 10.0 s"``, ``"uniform frames for 12.1 s"``.
    Frames are checked at most every ``check_interval_s`` (cheap at any frame rate).
    """

    def __init__(self, settings: FreezeSettings | None = None) -> None:
        self.settings = settings or FreezeSettings()
        self._reference: NDArray[np.float32] | None = None
        self._changed_at_s = 0.0
        self._seen_at_s = 0.0  # last time the picture was not uniform
        self._last_check_s = -float("inf")
        self._verdict = ""
        self.last_difference = 0.0  # mean absolute grey difference to the reference, last check

    def reset(self) -> None:
        """Forget the reference (after a reconnect: the first frames are never 'frozen')."""
        self._reference, self._verdict, self._last_check_s = None, "", -float("inf")

    def update(self, image: NDArray[np.uint8], t_mono_s: float) -> str:
        """Check ``image`` (taken at ``t_mono_s``) when due; return the verdict."""
        s = self.settings
        if t_mono_s - self._last_check_s < s.check_interval_s:
            return self._verdict
        self._last_check_s = t_mono_s
        thumb = thumbnail(image)
        # Step 1: unchanged against the reference?
        if self._reference is None or self._reference.shape != thumb.shape:
            self._reference, self._changed_at_s, self._seen_at_s = thumb, t_mono_s, t_mono_s
            self._verdict = ""
            return ""
        self.last_difference = float(np.abs(thumb - self._reference).mean())
        if self.last_difference >= s.change_threshold:
            self._reference, self._changed_at_s = thumb, t_mono_s
        # Step 2: uniform or black?
        std, mean = float(thumb.std()), float(thumb.mean())
        uniform = std < s.uniform_std
        if not uniform:
            self._seen_at_s = t_mono_s
        # Step 3: verdict
        unchanged_s, blind_s = t_mono_s - self._changed_at_s, t_mono_s - self._seen_at_s
        if blind_s >= s.after_s:
            kind = "black" if mean < s.black_mean else "uniform"
            self._verdict = f"{kind} frames for {blind_s:.1f} s"
        elif unchanged_s >= s.after_s:
            self._verdict = f"unchanged for {unchanged_s:.1f} s"
        else:
            self._verdict = ""
        return self._verdict

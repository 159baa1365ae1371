"""Local contrast normalisation before detection, for glare, haze, dusk and backlit scenes.

A road under a low sun or in rain haze fills a few grey levels; a dark road at dusk the bottom
few. CLAHE (contrast-limited adaptive histogram equalisation) on the lightness channel spreads
each tile's levels out, clipped so that noise is not amplified without limit, and leaves the
colours' hue alone. Measured, not assumed: RESULTS.md ("Hard light") gives event F1 with and
without it per condition; it is off by default.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ["clahe_bgr"]

_local = threading.local()  # cv2.CLAHE objects are not shared between threads


def clahe_bgr(
    image: NDArray[np.uint8], clip_limit: float = 2.0, tile_px: int = 64
) -> NDArray[np.uint8]:
    """(H, W, 3) BGR with CLAHE on the L channel of Lab; tiles of about ``tile_px`` px."""
    h, w = image.shape[:2]
    grid = (max(1, round(w / tile_px)), max(1, round(h / tile_px)))
    key = (clip_limit, grid)
    clahe = getattr(_local, "by_key", {}).get(key)
    if clahe is None:
        clahe = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=grid)
        _local.by_key = {**getattr(_local, "by_key", {}), key: clahe}
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lab[..., 0] = clahe.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)

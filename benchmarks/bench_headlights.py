"""Lamp kernels against the NumPy/SciPy references and OpenCV, on a synthetic night road.

``find_lamps`` on a dark noisy frame with 20 lamp pairs and some street lights, against the
NumPy/SciPy reference (integral image, ``ndimage.label``, ``bincount``) and against the OpenCV
route (``cv2.blur`` for the window mean, ``connectedComponentsWithStats``, the same limits);
``pair_lamps`` on the lamps of that frame against the NumPy reference.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import headlights
from carbonedge.kernels import reference as ref

_SIZES_HW = {"352x240": (240, 352), "640x360": (360, 640), "1280x720": (720, 1280)}
_KW = {"radius_px": 5, "min_luma": 50.0, "min_contrast_levels": 25.0}


def night_road(shape_hw: tuple[int, int], seed: int = 0) -> NDArray[np.uint8]:
    """Dark road (grey ~15, noise), 20 lamp pairs of 2-6 px spaced 3-8 lamp widths, 10 lights."""
    rng = np.random.default_rng(seed)
    h, w = shape_hw
    gray = np.clip(rng.normal(15, 4, shape_hw), 0, 255).astype(np.uint8)
    for _ in range(20):
        size = int(rng.integers(2, 7))
        gap = size * int(rng.integers(3, 9))
        x, y = int(rng.integers(0, w - gap - size)), int(rng.integers(h // 3, h - size))
        level = int(rng.integers(120, 256))
        gray[y : y + size, x : x + size] = level
        gray[y : y + size, x + gap : x + gap + size] = level
    for _ in range(10):
        x, y = int(rng.integers(0, w - 4)), int(rng.integers(0, h // 3))
        gray[y : y + 4, x : x + 4] = 250
    return cv2.GaussianBlur(gray, (3, 3), 0)


def opencv_lamps(gray: NDArray[np.uint8]) -> NDArray[np.float64]:
    """The same lamps by OpenCV calls (float window mean, so not bit-equal at the threshold)."""
    r = _KW["radius_px"]
    mean = cv2.blur(gray.astype(np.float32), (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)
    mask = (gray >= _KW["min_luma"]) & ((gray - mean >= _KW["min_contrast_levels"]) | (gray >= 250))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask.view(np.uint8), 8)
    area = stats[1:, cv2.CC_STAT_AREA]
    bw, bh = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    sums = np.bincount(labels.ravel(), weights=gray.ravel(), minlength=n)[1:]
    keep = (area >= 2) & (area <= 400) & (np.maximum(bw, bh) <= 3 * np.minimum(bw, bh))
    keep &= area >= 0.4 * bw * bh
    out = np.empty((int(keep.sum()), 8))
    out[:, :2] = stats[1:, :2][keep]
    out[:, 2:4] = out[:, :2] + stats[1:, 2:4][keep]
    out[:, 4:6] = centroids[1:][keep] + 0.5
    out[:, 6] = area[keep]
    out[:, 7] = sums[keep] / area[keep]
    return out


def run(quick: bool) -> list[Row]:
    sizes = ["352x240", "640x360"] if quick else list(_SIZES_HW)
    rows = []
    for name in sizes:
        gray = night_road(_SIZES_HW[name])
        ours = lambda g=gray: headlights.find_lamps(g, **_KW)  # noqa: E731
        rows.append(compare("find_lamps", f"{name} night road", ours,
                            lambda g=gray: ref.find_lamps(g, **_KW),
                            reference_name="numpy+scipy"))  # fmt: skip
        rows.append(compare("find_lamps", f"{name} night road", ours,
                            lambda g=gray: opencv_lamps(g),
                            reference_name="cv2 blur+connectedComponentsWithStats"))  # fmt: skip
        rows.append(_bench_pairs(name, headlights.find_lamps(gray, **_KW), gray.shape))
    return rows


def _bench_pairs(name: str, lamps: NDArray[np.float64], shape_hw: tuple[int, int]) -> Row:
    h, w = shape_hw
    gap_min, gap_max = np.full(h, 3.0), 0.3 * w * np.linspace(0.1, 1.0, h)
    return compare(
        "pair_lamps",
        f"{name}, {len(lamps)} lamps",
        lambda: headlights.pair_lamps(lamps, gap_min, gap_max),
        lambda: ref.pair_lamps(lamps, gap_min, gap_max),
    )

"""Motion kernels against the NumPy/SciPy references and OpenCV.

``motion_update`` is compared with the NumPy reference and with the textbook OpenCV running-average
background (``absdiff`` + ``compare`` + two masked ``accumulateWeighted``: same mask, background
within 2e-5 grey levels); ``connected_components`` with the SciPy
reference (``ndimage.label`` + ``find_objects``) and with ``cv2.connectedComponentsWithStats``
(boxes and areas extracted the same way) on a motion-like mask (vehicle-sized blobs plus speckle)
and on dense random noise (worst case: many tiny components and label merges).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from carbonedge.benchmarks._harness import Row, compare
from carbonedge.kernels import motion
from carbonedge.kernels import reference as ref

_SIZES_HW = {
    "320x240": (240, 320),
    "640x360": (360, 640),
    "1280x720": (720, 1280),
    "1920x1080": (1080, 1920),
}


def _blob_mask(shape_hw: tuple[int, int], seed: int) -> NDArray[np.uint8]:
    """Motion-like mask: ~12 vehicle-sized rectangles, some touching, plus 0.2 % speckle."""
    rng = np.random.default_rng(seed)
    h, w = shape_hw
    mask = (rng.random(shape_hw) < 0.002).astype(np.uint8) * 255
    for _ in range(12):
        bw, bh = int(rng.integers(w // 30, w // 8)), int(rng.integers(h // 30, h // 6))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        mask[y : y + bh, x : x + bw] = 255
    return mask


def _opencv_components(mask: NDArray[np.uint8], min_area_px: int) -> tuple[NDArray, NDArray]:
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    stats = stats[1:n]
    stats = stats[stats[:, cv2.CC_STAT_AREA] >= min_area_px]
    xyxy = stats[:, :4].astype(np.float32)
    xyxy[:, 2:] += xyxy[:, :2]
    return xyxy, stats[:, cv2.CC_STAT_AREA].astype(np.int32)


def opencv_motion_update(
    gray: NDArray[np.uint8],
    background: NDArray[np.float32],
    out_mask: NDArray[np.uint8],
    *,
    alpha: float,
    alpha_foreground: float,
    threshold_levels: float,
) -> NDArray[np.uint8]:
    """``motion_update`` by OpenCV calls: foreground where ``|gray - bg| > threshold``, then the
    background moves at ``alpha`` outside the mask and ``alpha_foreground`` inside it."""
    diff = cv2.absdiff(gray.astype(np.float32), background)
    cv2.compare(diff, threshold_levels, cv2.CMP_GT, dst=out_mask)
    cv2.accumulateWeighted(gray, background, alpha, mask=cv2.bitwise_not(out_mask))
    cv2.accumulateWeighted(gray, background, alpha_foreground, mask=out_mask)
    return out_mask


def _bench_motion_update(name: str, shape_hw: tuple[int, int]) -> list[Row]:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, shape_hw, dtype=np.uint8)
    bg_ours = rng.uniform(0, 255, shape_hw).astype(np.float32)
    bg_ref, bg_cv = bg_ours.copy(), bg_ours.copy()
    out = np.empty(shape_hw, np.uint8)
    kw = {"alpha": 0.02, "alpha_foreground": 0.002, "threshold_levels": 20.0}
    ours = lambda: motion.motion_update(gray, bg_ours, out_mask=out, **kw)  # noqa: E731
    return [
        compare("motion_update", name, ours,
                lambda: ref.motion_update(gray, bg_ref, out_mask=out, **kw),
                reference_name="numpy"),
        compare("motion_update", name, ours,
                lambda: opencv_motion_update(gray, bg_cv, out, **kw),
                reference_name="cv2 absdiff+compare+accumulateWeighted"),
    ]  # fmt: skip


def _bench_components(name: str, mask: NDArray[np.uint8], min_area_px: int) -> list[Row]:
    ours = lambda: motion.connected_components(mask, min_area_px=min_area_px)  # noqa: E731
    return [
        compare(
            "connected_components",
            name,
            ours,
            lambda: ref.connected_components(mask, min_area_px=min_area_px),
            reference_name="scipy label+find_objects",
        ),
        compare(
            "connected_components",
            name,
            ours,
            lambda: _opencv_components(mask, min_area_px),
            reference_name="cv2.connectedComponentsWithStats",
        ),
    ]


def run(quick: bool) -> list[Row]:
    sizes = ["320x240", "640x360"] if quick else list(_SIZES_HW)
    rows = [row for name in sizes for row in _bench_motion_update(name, _SIZES_HW[name])]
    for name in sizes:
        rows += _bench_components(f"{name} blobs", _blob_mask(_SIZES_HW[name], 1), 20)
    noise_name = "320x240" if quick else "640x360"
    noise = (np.random.default_rng(2).random(_SIZES_HW[noise_name]) < 0.5).astype(np.uint8)
    rows += _bench_components(f"{noise_name} noise 50%", noise, 1)
    return rows

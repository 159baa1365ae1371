"""Motion kernels: selective running-average background subtraction and connected components.

Compiled implementation: ``carbonedge.kernels._motion`` (Cython, GIL released). NumPy/SciPy
references of the same signatures: ``carbonedge.kernels.reference`` (``_ref_motion.py``).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from carbonedge.kernels import _register, _require

__all__ = ["motion_update", "connected_components"]

_register("motion_update", "cython", "_motion")
_register("connected_components", "cython", "_motion")


def _check_image(name: str, arr: object, dtype: type, *, writable: bool = False) -> NDArray:
    """``arr`` as a 2-D C-contiguous array of ``dtype``; in-place arrays are never copied."""
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(arr).__name__}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape (H, W), got {arr.shape}")
    if arr.dtype != dtype:
        raise ValueError(f"{name}: expected dtype {np.dtype(dtype).name}, got {arr.dtype}")
    if writable:
        if not arr.flags.c_contiguous or not arr.flags.writeable:
            raise ValueError(f"{name}: must be C-contiguous and writeable (it is updated in place)")
        return arr
    return np.ascontiguousarray(arr)


def _check_rate(name: str, value: float, *, allow_zero: bool) -> float:
    value = float(value)
    ok = (0.0 <= value <= 1.0) if allow_zero else (0.0 < value <= 1.0)
    if not ok:
        bounds = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name}: expected a value in {bounds}, got {value}")
    return value


def motion_update(
    gray: NDArray[np.uint8],
    background: NDArray[np.float32],
    *,
    alpha: float,
    alpha_foreground: float,
    threshold_levels: float,
    out_mask: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """Foreground mask of ``gray`` against ``background``; updates ``background`` in place.

    Per pixel, in float32: ``d = gray - background``; the pixel is foreground when
    ``|d| > threshold_levels``; then ``background += rate * d`` with ``rate = alpha_foreground``
    for foreground pixels (slow: a passing vehicle does not leave a ghost, a parked one is absorbed
    slowly) and ``alpha`` otherwise.

    Args:
        gray: (H, W) uint8 current frame, grey levels.
        background: (H, W) float32 running background, C-contiguous, updated in place.
        alpha: learning rate for background pixels, in (0, 1] (e.g. 0.02).
        alpha_foreground: learning rate for foreground pixels, in [0, 1] (e.g. 0.002).
        threshold_levels: foreground when ``|gray - background| > threshold_levels``, grey
            levels, >= 0.
        out_mask: optional (H, W) uint8 C-contiguous buffer for the result.

    Returns:
        (H, W) uint8 mask, 255 foreground / 0 background (``out_mask`` when given).

    Raises:
        ValueError: wrong shapes, dtypes, layout or parameter ranges.
    """
    gray = _check_image("gray", gray, np.uint8)
    background = _check_image("background", background, np.float32, writable=True)
    if background.shape != gray.shape:
        raise ValueError(f"background: expected shape {gray.shape}, got {background.shape}")
    alpha = _check_rate("alpha", alpha, allow_zero=False)
    alpha_foreground = _check_rate("alpha_foreground", alpha_foreground, allow_zero=True)
    threshold_levels = float(threshold_levels)
    if not (math.isfinite(threshold_levels) and threshold_levels >= 0.0):
        raise ValueError(f"threshold_levels: expected a finite value >= 0, got {threshold_levels}")
    if out_mask is None:
        out_mask = np.empty(gray.shape, np.uint8)
    else:
        out_mask = _check_image("out_mask", out_mask, np.uint8, writable=True)
        if out_mask.shape != gray.shape:
            raise ValueError(f"out_mask: expected shape {gray.shape}, got {out_mask.shape}")
    kernels = _require("_motion")
    kernels.motion_update(gray, background, alpha, alpha_foreground, threshold_levels, out_mask)
    return out_mask


def connected_components(
    mask: NDArray[np.uint8], *, min_area_px: int = 1
) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """8-connected components of the non-zero pixels of ``mask`` with their boxes and areas.

    Union-find labelling: pass 1 scans the pixels (two label rows kept) recording equivalences and
    per-label extents and counts; pass 2 resolves the label table. No label image is produced.

    Args:
        mask: (H, W) uint8 (or bool), 0 = background, non-zero = foreground.
        min_area_px: components with fewer pixels are dropped; >= 0.

    Returns:
        ``(xyxy, area)``: (K, 4) float32 boxes ``(min_x, min_y, max_x + 1, max_y + 1)`` (exclusive
        right/bottom, like ``cv2.connectedComponentsWithStats``) and (K,) int32 pixel counts, in
        the raster order of each component's first pixel.

    Raises:
        ValueError: wrong shape or dtype, negative ``min_area_px``.
    """
    if isinstance(mask, np.ndarray) and mask.dtype == np.bool_:
        mask = mask.view(np.uint8)
    mask = _check_image("mask", mask, np.uint8)
    if isinstance(min_area_px, bool) or not isinstance(min_area_px, (int, np.integer)):
        raise ValueError(f"min_area_px: expected an int, got {type(min_area_px).__name__}")
    if min_area_px < 0:
        raise ValueError(f"min_area_px: expected a value >= 0, got {min_area_px}")
    min_area = int(min(min_area_px, np.iinfo(np.int32).max))
    return _require("_motion").connected_components(mask, min_area)

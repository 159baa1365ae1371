"""NumPy/SciPy references of the motion kernels (same signatures as ``carbonedge.kernels.motion``).

No input validation beyond what NumPy does: these define what the kernels compute.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["motion_update", "connected_components"]

_EIGHT = np.ones((3, 3), dtype=bool)


def motion_update(
    gray: NDArray[np.uint8],
    background: NDArray[np.float32],
    *,
    alpha: float,
    alpha_foreground: float,
    threshold_levels: float,
    out_mask: NDArray[np.uint8] | None = None,
) -> NDArray[np.uint8]:
    """(H, W) uint8 0/255 mask of ``|gray - background| > threshold_levels`` (grey levels);
    ``background`` (H, W) float32 moves toward ``gray`` in place at ``alpha`` (background pixels)
    or ``alpha_foreground`` (foreground pixels).
    """
    diff = gray.astype(np.float32) - background
    foreground = np.abs(diff) > np.float32(threshold_levels)
    rate = np.where(foreground, np.float32(alpha_foreground), np.float32(alpha))
    background += rate * diff
    mask = foreground.astype(np.uint8) * np.uint8(255)
    if out_mask is None:
        return mask
    out_mask[...] = mask
    return out_mask


def connected_components(
    mask: NDArray[np.uint8], *, min_area_px: int = 1
) -> tuple[NDArray[np.float32], NDArray[np.int32]]:
    """8-connected components via ``scipy.ndimage.label`` + ``find_objects``.

    Returns (K, 4) float32 boxes xyxy with exclusive x2/y2 and (K,) int32 areas, components with
    fewer than ``min_area_px`` pixels dropped, ordered by each component's first pixel in raster
    order.
    """
    labels, n = ndimage.label(mask != 0, structure=_EIGHT)
    if n == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int32)
    flat = labels.ravel()
    areas = np.bincount(flat, minlength=n + 1)[1:].astype(np.int32)
    values, first_index = np.unique(flat, return_index=True)
    first_px = np.zeros(n + 1, np.int64)
    first_px[values] = first_index  # first raster index of each label (0 may be absent)
    slices = ndimage.find_objects(labels)
    boxes = np.array(
        [(sx.start, sy.start, sx.stop, sy.stop) for sy, sx in slices], dtype=np.float32
    ).reshape(n, 4)
    order = np.argsort(first_px[1:], kind="stable")
    keep = order[areas[order] >= min_area_px]
    return boxes[keep], areas[keep]

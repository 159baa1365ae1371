"""NumPy/SciPy references of the lamp kernels (signatures of ``carbonedge.kernels.headlights``).

No input validation beyond what NumPy does: these define what the kernels compute.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

__all__ = ["find_lamps", "pair_lamps"]

_EIGHT = np.ones((3, 3), dtype=bool)


def _lamp_mask(
    gray: NDArray[np.uint8],
    radius_px: int,
    min_luma: float,
    min_contrast_levels: float,
    saturation_luma: float,
) -> NDArray[np.bool_]:
    """Pixels >= ``min_luma`` that are saturated or exceed their window's mean by the contrast."""
    h, w = gray.shape
    s = np.zeros((h + 1, w + 1), np.int64)
    s[1:, 1:] = gray.astype(np.int64).cumsum(axis=0).cumsum(axis=1)
    ys, xs = np.arange(h), np.arange(w)
    y0, y1 = np.maximum(ys - radius_px, 0), np.minimum(ys + radius_px + 1, h)
    x0, x1 = np.maximum(xs - radius_px, 0), np.minimum(xs + radius_px + 1, w)
    total = (
        s[y1][:, x1] - s[y0][:, x1] - s[y1][:, x0] + s[y0][:, x0]
    )  # (H, W) window sums, windows clipped at the border
    count = (y1 - y0)[:, None] * (x1 - x0)[None, :]
    excess = (gray.astype(np.int64) * count - total).astype(np.float64)
    bright = excess >= min_contrast_levels * count
    return (gray >= min_luma) & (bright | (gray >= saturation_luma))


def find_lamps(
    gray: NDArray[np.uint8],
    *,
    radius_px: int = 7,
    min_luma: float = 120.0,
    min_contrast_levels: float = 40.0,
    saturation_luma: float = 250.0,
    min_area_px: int = 2,
    max_area_px: int = 400,
    max_aspect: float = 3.0,
    min_fill: float = 0.4,
) -> NDArray[np.float64]:
    """(K, 8) float64 lamps: x0, y0, x1, y1 (exclusive), cx, cy (pixel centres +0.5), area px,
    mean grey level; 8-connected components of the lamp mask within the size/shape limits, in the
    raster order of each component's first pixel."""
    mask = _lamp_mask(gray, radius_px, min_luma, min_contrast_levels, saturation_luma)
    labels, n = ndimage.label(mask, structure=_EIGHT)
    if n == 0:
        return np.zeros((0, 8), np.float64)
    flat = labels.ravel()
    on = flat > 0
    ys, xs = np.divmod(np.flatnonzero(on), gray.shape[1])
    lab = flat[on]
    area = np.bincount(lab, minlength=n + 1)[1:]
    sum_x = np.bincount(lab, weights=xs, minlength=n + 1)[1:].astype(np.int64)
    sum_y = np.bincount(lab, weights=ys, minlength=n + 1)[1:].astype(np.int64)
    sum_g = np.bincount(lab, weights=gray.ravel()[on], minlength=n + 1)[1:].astype(np.int64)
    boxes = np.array(
        [(sx.start, sy.start, sx.stop, sy.stop) for sy, sx in ndimage.find_objects(labels)],
        np.int64,
    ).reshape(n, 4)
    _, first = np.unique(lab, return_index=True)  # lab ascending; first index in raster order
    order = np.argsort(first, kind="stable")
    bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    keep = (area >= min_area_px) & (area <= max_area_px)
    keep &= np.maximum(bw, bh) <= max_aspect * np.minimum(bw, bh)
    keep &= area >= min_fill * (bw * bh)
    order = order[keep[order]]
    out = np.empty((len(order), 8), np.float64)
    out[:, :4] = boxes[order]
    out[:, 4] = sum_x[order] / area[order] + 0.5
    out[:, 5] = sum_y[order] / area[order] + 0.5
    out[:, 6] = area[order]
    out[:, 7] = sum_g[order] / area[order]
    return out


def pair_lamps(
    lamps: NDArray[np.float64],
    gap_min_px: NDArray[np.float64],
    gap_max_px: NDArray[np.float64],
    *,
    max_dy_frac: float = 0.6,
    max_size_ratio: float = 2.5,
    max_luma_ratio: float = 1.6,
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Greedy one-to-one lamp pairs: (P, 2) int64 rows (left, right) and (P,) float64 costs.

    A pair qualifies when the lamps do not share columns, their centre rows differ by at most
    ``max_dy_frac`` x mean lamp height + 1 px, their areas and mean grey levels differ by at most
    the ratios, and their centre spacing lies in ``[gap_min_px[row], gap_max_px[row]]`` at the
    pair's mean row. Cost: dy / mean height + (area ratio - 1) + (grey ratio - 1); pairs are
    taken lowest cost first (ties in (i, j) order), each lamp once.
    """
    k = len(lamps)
    i, j = np.triu_indices(k, 1)
    swap = lamps[i, 4] > lamps[j, 4]
    left, right = np.where(swap, j, i), np.where(swap, i, j)
    h_mean = 0.5 * ((lamps[i, 3] - lamps[i, 1]) + (lamps[j, 3] - lamps[j, 1]))
    dy = np.abs(lamps[i, 5] - lamps[j, 5])
    size = np.maximum(lamps[i, 6], lamps[j, 6]) / np.minimum(lamps[i, 6], lamps[j, 6])
    luma = np.maximum(lamps[i, 7], lamps[j, 7]) / np.minimum(lamps[i, 7], lamps[j, 7])
    row = np.clip((0.5 * (lamps[i, 5] + lamps[j, 5])).astype(np.int64), 0, len(gap_min_px) - 1)
    gap = lamps[right, 4] - lamps[left, 4]
    ok = lamps[left, 2] <= lamps[right, 0]
    ok &= dy <= max_dy_frac * h_mean + 1.0
    ok &= (size <= max_size_ratio) & (luma <= max_luma_ratio)
    ok &= (gap >= gap_min_px[row]) & (gap <= gap_max_px[row])
    cost = dy / h_mean + (size - 1.0) + (luma - 1.0)
    left, right, cost = left[ok], right[ok], cost[ok]
    used = np.zeros(k, bool)
    pairs, costs = [], []
    for o in np.argsort(cost, kind="stable"):
        a, b = left[o], right[o]
        if not (used[a] or used[b]):
            used[a] = used[b] = True
            pairs.append((a, b))
            costs.append(cost[o])
    return np.array(pairs, np.int64).reshape(-1, 2), np.array(costs, np.float64)

"""Numba lamp kernels: bright compact blobs (head- and tail-lights) and their pairing.

``find_lamps``: one pass builds the integral image of the grey frame; a second marks lamp pixels
(bright in absolute terms and against the mean of the window around them, or saturated) and
links them with union-find (8-connected); a third resolves the labels and sums each component's
extent, pixel count, centre and grey level; the shape and size limits keep the compact ones.
``pair_lamps``: every pair of lamps is tested (same row, similar size and brightness, spacing
allowed at that row), scored, and the pairs are taken greedily by score, each lamp once.
The arithmetic is the one of ``_ref_headlights`` (integer sums, float64 ratios), so the results
are equal, not close.
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_COLUMNS = 8  # x0, y0, x1, y1, cx, cy, area_px, mean_luma


@njit(cache=True, nogil=True)
def _find(parent, i):  # pragma: no cover - compiled
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def _union(parent, a, b):  # pragma: no cover - compiled
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra < rb:
        parent[rb] = ra
    elif rb < ra:
        parent[ra] = rb


@njit(cache=True, nogil=True)
def _integral(gray):  # pragma: no cover - compiled
    h, w = gray.shape
    s = np.zeros((h + 1, w + 1), np.int64)
    for y in range(h):
        row = 0
        for x in range(w):
            row += gray[y, x]
            s[y + 1, x + 1] = s[y, x + 1] + row
    return s


@njit(cache=True, nogil=True)
def _label(gray, radius, min_luma, min_contrast, saturation_luma):  # pragma: no cover
    """(H, W) int32 provisional labels (0 = no lamp) and the union-find parent table."""
    h, w = gray.shape
    s = _integral(gray)
    labels = np.zeros((h, w), np.int32)
    parent = np.zeros(1024, np.int32)
    n = 0
    for y in range(h):
        y0 = max(y - radius, 0)
        y1 = min(y + radius + 1, h)
        for x in range(w):
            g = gray[y, x]
            if g < min_luma:
                continue
            if g < saturation_luma:
                x0 = max(x - radius, 0)
                x1 = min(x + radius + 1, w)
                count = (y1 - y0) * (x1 - x0)
                total = s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]
                if float(np.int64(g) * count - total) < min_contrast * count:
                    continue
            # link to the labelled neighbours already seen: W, NW, N, NE
            lab = labels[y, x - 1] if x > 0 else 0
            if y > 0:
                for xx in range(max(x - 1, 0), min(x + 2, w)):
                    other = labels[y - 1, xx]
                    if other == 0:
                        continue
                    if lab == 0:
                        lab = other
                    else:
                        _union(parent, lab, other)
            if lab == 0:
                n += 1
                if n >= parent.shape[0]:
                    grown = np.zeros(parent.shape[0] * 2, np.int32)
                    grown[: parent.shape[0]] = parent
                    parent = grown
                parent[n] = n
                lab = n
            labels[y, x] = lab
    return labels, parent, n


@njit(cache=True, nogil=True)
def find_lamps(
    gray,
    radius,
    min_luma,
    min_contrast,
    saturation_luma,
    min_area,
    max_area,
    max_aspect,
    min_fill,
):  # pragma: no cover - compiled
    """(K, 8) float64 lamps of ``gray`` (see ``carbonedge.kernels.headlights.find_lamps``)."""
    h, w = gray.shape
    labels, parent, n = _label(gray, radius, min_luma, min_contrast, saturation_luma)
    # per root: x0, y0, x1, y1, area, sum x, sum y, sum luma; order of first pixel
    stats = np.zeros((n + 1, 8), np.int64)
    order = np.full(n + 1, -1, np.int64)
    slot_of = np.full(n + 1, -1, np.int64)
    k = 0
    for y in range(h):
        for x in range(w):
            lab = labels[y, x]
            if lab == 0:
                continue
            root = _find(parent, lab)
            slot = slot_of[root]
            if slot < 0:
                slot = k
                slot_of[root] = k
                order[k] = root
                k += 1
                stats[slot, 0] = x
                stats[slot, 1] = y
                stats[slot, 2] = x + 1
                stats[slot, 3] = y + 1
            else:
                stats[slot, 0] = min(stats[slot, 0], x)
                stats[slot, 2] = max(stats[slot, 2], x + 1)
                stats[slot, 3] = y + 1
            stats[slot, 4] += 1
            stats[slot, 5] += x
            stats[slot, 6] += y
            stats[slot, 7] += gray[y, x]
    out = np.empty((k, N_COLUMNS), np.float64)
    m = 0
    for slot in range(k):
        area = stats[slot, 4]
        bw = stats[slot, 2] - stats[slot, 0]
        bh = stats[slot, 3] - stats[slot, 1]
        if area < min_area or area > max_area:
            continue
        if max(bw, bh) > max_aspect * min(bw, bh) or area < min_fill * (bw * bh):
            continue
        out[m, 0] = stats[slot, 0]
        out[m, 1] = stats[slot, 1]
        out[m, 2] = stats[slot, 2]
        out[m, 3] = stats[slot, 3]
        out[m, 4] = stats[slot, 5] / area + 0.5
        out[m, 5] = stats[slot, 6] / area + 0.5
        out[m, 6] = area
        out[m, 7] = stats[slot, 7] / area
        m += 1
    return out[:m].copy()


@njit(cache=True, nogil=True)
def pair_lamps(
    lamps, gap_min_px, gap_max_px, max_dy_frac, max_size_ratio, max_luma_ratio
):  # pragma: no cover - compiled
    """(P, 2) int64 lamp rows (left, right) and (P,) float64 costs, best first."""
    k = lamps.shape[0]
    rows = gap_min_px.shape[0]
    cand_i = np.empty(k * (k - 1) // 2 + 1, np.int64)
    cand_j = np.empty_like(cand_i)
    cand_cost = np.empty(cand_i.shape[0], np.float64)
    c = 0
    for i in range(k):
        for j in range(i + 1, k):
            left = i if lamps[i, 4] <= lamps[j, 4] else j
            right = j if left == i else i
            if lamps[left, 2] > lamps[right, 0]:
                continue  # overlapping columns: one lamp above the other
            h_mean = 0.5 * ((lamps[i, 3] - lamps[i, 1]) + (lamps[j, 3] - lamps[j, 1]))
            dy = abs(lamps[i, 5] - lamps[j, 5])
            if dy > max_dy_frac * h_mean + 1.0:
                continue
            size = max(lamps[i, 6], lamps[j, 6]) / min(lamps[i, 6], lamps[j, 6])
            if size > max_size_ratio:
                continue
            luma = max(lamps[i, 7], lamps[j, 7]) / min(lamps[i, 7], lamps[j, 7])
            if luma > max_luma_ratio:
                continue
            row = int(0.5 * (lamps[i, 5] + lamps[j, 5]))
            row = min(max(row, 0), rows - 1)
            gap = lamps[right, 4] - lamps[left, 4]
            if gap < gap_min_px[row] or gap > gap_max_px[row]:
                continue
            cand_i[c] = left
            cand_j[c] = right
            cand_cost[c] = dy / h_mean + (size - 1.0) + (luma - 1.0)
            c += 1
    order = np.argsort(cand_cost[:c], kind="mergesort")
    used = np.zeros(k, np.bool_)
    pairs = np.empty((c, 2), np.int64)
    costs = np.empty(c, np.float64)
    p = 0
    for o in order:
        a = cand_i[o]
        b = cand_j[o]
        if used[a] or used[b]:
            continue
        used[a] = True
        used[b] = True
        pairs[p, 0] = a
        pairs[p, 1] = b
        costs[p] = cand_cost[o]
        p += 1
    return pairs[:p].copy(), costs[:p].copy()

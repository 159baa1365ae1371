"""Numba backend of the GFL (generalized focal loss) head decoder: PicoDet, NanoDet.

Private: :mod:`carbonedge.kernels.gfl` validates input and always calls this with the same
types (tuples of C-contiguous 2-D float32 arrays, one per level, int64 ``strides``, float64
``geom``, int64 ``classes`` = sorted allowed class ids (non-empty), Python ints and floats), so
one cached compilation serves every call with the same number of levels. Compilation happens on
the first call (``cache=True`` keeps it in ``__pycache__``).

Step 1, a pass of its own over each level, asks only whether any allowed class score of an
anchor reaches the threshold: an OR of float32 comparisons, which vectorises over a contiguous
row (the 80 classes of PicoDet) unlike a running max; most anchors stop there. Step 2 reads the
best class (lowest id among equal scores, like ``np.argmax``) and the box distribution of the
few anchors that pass: per side a softmax over the bins (float64) and its expectation. Rows are
indexed in place (no per-anchor array views: each view costs a reference-count update). NaN
scores never pass; with NaN class scores the choice of the best class is unspecified.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from carbonedge.kernels._decode_nb import _grouped_nms_kept


@njit(cache=True, nogil=True, inline="always")
def _any_at_least(scores, a, classes, every_class, threshold):
    """Whether any allowed class score of anchor ``a`` is ``>= threshold`` (float32)."""
    hit = False
    if every_class:
        for c in range(scores.shape[1]):
            hit |= scores[a, c] >= threshold
    else:
        for j in range(classes.shape[0]):
            hit |= scores[a, classes[j]] >= threshold
    return hit


@njit(cache=True, nogil=True)
def _best_class(scores, a, classes):
    """(score, class id) of the best allowed class of anchor ``a``; ties: the lower id."""
    cls = classes[0]
    best = scores[a, cls]
    for j in range(1, classes.shape[0]):
        v = scores[a, classes[j]]
        if v > best:
            best = v
            cls = classes[j]
    return best, cls


@njit(cache=True, nogil=True)
def _expected_bin(dist, a, first, bins):
    """Expectation of ``softmax(dist[a, first:first + bins])`` over the bins 0..bins-1."""
    top = dist[a, first]
    for j in range(1, bins):
        v = dist[a, first + j]
        top = v if v > top else top
    total = 0.0
    weighted = 0.0
    for j in range(bins):
        e = math.exp(np.float64(dist[a, first + j]) - np.float64(top))
        total += e
        weighted += j * e
    return weighted / total


@njit(cache=True, nogil=True)
def _emit_xyxy(k, x1, y1, x2, y2, geom, xyxy):
    """Write box k: corners in input px -> image px through the letterbox, clipped to the image."""
    sx, sy, px, py, img_w, img_h = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    xyxy[k, 0] = min(max((x1 - px) / sx, 0.0), img_w)
    xyxy[k, 1] = min(max((y1 - py) / sy, 0.0), img_h)
    xyxy[k, 2] = min(max((x2 - px) / sx, 0.0), img_w)
    xyxy[k, 3] = min(max((y2 - py) / sy, 0.0), img_h)


@njit(cache=True, nogil=True)
def _candidates(scores, classes, threshold, out):
    """Step 1: anchors of one level with an allowed class score ``>= threshold`` into ``out``;
    returns how many. Kept apart from Step 2: in one loop with it this scan runs 5x slower."""
    every_class = classes.shape[0] == scores.shape[1]
    n = 0
    for a in range(scores.shape[0]):
        if _any_at_least(scores, a, classes, every_class, threshold):
            out[n] = a
            n += 1
    return n


@njit(cache=True, nogil=True)
def _decode_level(
    sc, dist, s, grid_w, geom, threshold, classes, first_row, k, xyxy, score, cls, rows
):
    """Candidates of one level written from row ``k`` of the outputs on; returns the next ``k``."""
    bins = dist.shape[1] // 4
    cand = np.empty(sc.shape[0], np.int64)
    for ci in range(_candidates(sc, classes, threshold, cand)):
        a = cand[ci]
        # Step 2: the best class and the distances (left, top, right, bottom) from the centre.
        best, best_cls = _best_class(sc, a, classes)
        if not best >= threshold:  # a NaN first score
            continue
        gy = a // grid_w
        cx = (a - gy * grid_w + 0.5) * s
        cy = (gy + 0.5) * s
        left = _expected_bin(dist, a, 0, bins) * s
        top = _expected_bin(dist, a, bins, bins) * s
        right = _expected_bin(dist, a, 2 * bins, bins) * s
        bottom = _expected_bin(dist, a, 3 * bins, bins) * s
        _emit_xyxy(k, cx - left, cy - top, cx + right, cy + bottom, geom, xyxy)
        score[k] = best
        cls[k] = best_cls
        rows[k] = first_row + a
        k += 1
    return k


@njit(cache=True, nogil=True)
def _decode_all(scores, dists, strides, input_w, geom, score_threshold, classes):
    """(xyxy, score, class_id, row, k): the first k rows hold the candidates, in anchor order."""
    n = 0
    for li in range(len(scores)):
        n += scores[li].shape[0]
    xyxy = np.empty((n, 4), np.float32)
    score = np.empty(n, np.float32)
    cls = np.empty(n, np.int32)
    rows = np.empty(n, np.int32)
    threshold = np.float32(score_threshold)  # float32 compares vectorise twice as wide
    k = 0
    first_row = 0
    for li in range(len(scores)):
        s = strides[li]
        grid_w = (input_w + s - 1) // s
        k = _decode_level(scores[li], dists[li], s, grid_w, geom, threshold, classes, first_row,
                          k, xyxy, score, cls, rows)  # fmt: skip
        first_row += scores[li].shape[0]
    return xyxy, score, cls, rows, k


@njit(cache=True, nogil=True)
def decode_nms_gfl_nb(
    scores, dists, strides, input_w, geom, score_threshold, classes, group_of_class,
    iou_threshold, max_det,
):  # fmt: skip
    """Decode as :func:`decode_gfl_nb`, then greedy NMS within ``group_of_class[class_id]``
    (the same float32 IoU as ``boxes.hpp``): the kept boxes by descending score."""
    xyxy, score, cls, rows, k = _decode_all(
        scores, dists, strides, input_w, geom, score_threshold, classes
    )
    return _grouped_nms_kept(xyxy, score, cls, rows, k, group_of_class, iou_threshold, max_det)


@njit(cache=True, nogil=True)
def decode_gfl_nb(scores, dists, strides, input_w, geom, score_threshold, classes):
    """Candidates of every level, in anchor order.

    ``scores[l]`` (A_l, nc) and ``dists[l]`` (A_l, 4 * bins) float32, rows the cells of a
    row-major grid ``ceil(input_w / strides[l])`` cells wide; ``geom`` float64 [scale_x, scale_y,
    pad_x, pad_y, image_w, image_h]. Returns ``(xyxy, score, class_id, row)`` with ``row`` the
    anchor index counted over the levels in order.
    """
    xyxy, score, cls, rows, k = _decode_all(
        scores, dists, strides, input_w, geom, score_threshold, classes
    )
    return xyxy[:k].copy(), score[:k].copy(), cls[:k].copy(), rows[:k].copy()

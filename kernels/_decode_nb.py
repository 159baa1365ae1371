"""Numba backend of the detector decoders: best class per anchor, threshold, map to image px.

Private: :mod:`carbonedge.kernels.decode` validates input and always calls these with the same
types (C-contiguous 2-D float32 ``raw``, int64 ``classes`` = sorted allowed class ids (non-empty),
int64 ``strides``, float64 ``geom``, Python ints and floats), so one cached compilation serves
every call. Compilation happens on the first call (``cache=True`` keeps it in ``__pycache__``).

YOLOX first bounds every class score by the column-wise maximum (a vectorised pass), so anchors
whose objectness times that bound is below the threshold are rejected exactly without a class
scan. The best class score is a branch-free max (8 running maxima when every class is allowed);
the class id (lowest id holding that score, like ``np.argmax``) is looked up only for the few
anchors that pass the threshold. NaN scores never pass; with NaN class scores the choice of the
best class among the others is unspecified.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, inline="always")
def _mx(a, b):
    return a if a > b else b


@njit(cache=True, nogil=True)
def _max_contiguous(row, lo, hi):
    """max(row[lo:hi]) with 8 independent running maxima (breaks the compare/select chain)."""
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = row[lo]
    j = lo
    while j + 8 <= hi:
        b0 = _mx(row[j], b0)
        b1 = _mx(row[j + 1], b1)
        b2 = _mx(row[j + 2], b2)
        b3 = _mx(row[j + 3], b3)
        b4 = _mx(row[j + 4], b4)
        b5 = _mx(row[j + 5], b5)
        b6 = _mx(row[j + 6], b6)
        b7 = _mx(row[j + 7], b7)
        j += 8
    while j < hi:
        b0 = _mx(row[j], b0)
        j += 1
    return _mx(_mx(_mx(b0, b1), _mx(b2, b3)), _mx(_mx(b4, b5), _mx(b6, b7)))


@njit(cache=True, nogil=True)
def _max_score(row, first, classes):
    """Largest allowed class score of one anchor; class c is at ``row[first + c]``."""
    nc = row.shape[0] - first
    if classes.shape[0] == nc:  # every class allowed: contiguous scan
        return _max_contiguous(row, first, first + nc)
    best = row[first + classes[0]]
    for j in range(1, classes.shape[0]):
        best = _mx(row[first + classes[j]], best)
    return best


@njit(cache=True, nogil=True)
def _class_bound(raw, first, classes):
    """Largest allowed class score over all anchors (NaN ignored): an upper bound per anchor.

    Column-wise running maxima over contiguous rows vectorise well, unlike one max per row.
    """
    nc = raw.shape[1] - first
    acc = np.full(nc, -np.inf, np.float32)
    for a in range(raw.shape[0]):
        row = raw[a]
        for c in range(nc):
            v = row[first + c]
            acc[c] = v if v > acc[c] else acc[c]
    bound = acc[classes[0]]
    for j in range(1, classes.shape[0]):
        bound = _mx(acc[classes[j]], bound)
    return bound


@njit(cache=True, nogil=True)
def _argmax_class(row, first, classes, best):
    """Lowest allowed class id whose score equals ``best``."""
    for j in range(classes.shape[0]):
        if row[first + classes[j]] == best:
            return classes[j]
    return classes[0]


@njit(cache=True, nogil=True)
def _emit(k, cx, cy, w, h, geom, xyxy):
    """Write box k: centre/size in input px -> xyxy in image px, clipped to the image."""
    sx, sy, px, py, img_w, img_h = geom[0], geom[1], geom[2], geom[3], geom[4], geom[5]
    x1 = ((cx - 0.5 * w) - px) / sx
    y1 = ((cy - 0.5 * h) - py) / sy
    x2 = ((cx + 0.5 * w) - px) / sx
    y2 = ((cy + 0.5 * h) - py) / sy
    xyxy[k, 0] = min(max(x1, 0.0), img_w)
    xyxy[k, 1] = min(max(y1, 0.0), img_h)
    xyxy[k, 2] = min(max(x2, 0.0), img_w)
    xyxy[k, 3] = min(max(y2, 0.0), img_h)


@njit(cache=True, nogil=True)
def _emit_yolox(k, r, gx, gy, stride, geom, xyxy):
    """Row ``k`` of ``xyxy`` from YOLOX cell offsets ``r[:4]`` in grid cell (gx, gy)."""
    cx = (r[0] + gx) * stride
    cy = (r[1] + gy) * stride
    w = math.exp(r[2]) * stride
    h = math.exp(r[3]) * stride
    _emit(k, cx, cy, w, h, geom, xyxy)


@njit(cache=True, nogil=True)
def decode_yolox_nb(raw, input_h, input_w, strides, geom, score_threshold, classes):
    """raw (A, 5+nc) float32; geom float64 [scale_x, scale_y, pad_x, pad_y, image_w, image_h]."""
    n = raw.shape[0]
    xyxy = np.empty((n, 4), np.float32)
    score = np.empty(n, np.float32)
    cls = np.empty(n, np.int32)
    rows = np.empty(n, np.int32)
    bound = _class_bound(raw, 5, classes)
    k = 0
    a = 0
    for si in range(strides.shape[0]):
        s = strides[si]
        for gy in range(input_h // s):
            for gx in range(input_w // s):
                r = raw[a]
                obj = r[4]
                # Exact early reject: obj >= 0 and best <= bound give obj * best <= obj * bound.
                if obj >= 0 and obj * bound < score_threshold:
                    a += 1
                    continue
                best = _max_score(r, 5, classes)
                sc = obj * best
                if sc >= score_threshold:
                    _emit_yolox(k, r, gx, gy, s, geom, xyxy)
                    score[k] = sc
                    cls[k] = _argmax_class(r, 5, classes, best)
                    rows[k] = a
                    k += 1
                a += 1
    return xyxy[:k].copy(), score[:k].copy(), cls[:k].copy(), rows[:k].copy()


@njit(cache=True, nogil=True)
def decode_yolo_v8_nb(raw, geom, score_threshold, classes):
    """raw (4+nc, A) float32 (channel-major); geom and classes as in :func:`decode_yolox_nb`."""
    n = raw.shape[1]
    # Step 1: class-major running max keeps memory access contiguous (vectorisable select).
    best = raw[4 + classes[0]].copy()
    for j in range(1, classes.shape[0]):
        row = raw[4 + classes[j]]
        for a in range(n):
            v = row[a]
            best[a] = v if v > best[a] else best[a]
    # Step 2: threshold, class id of the survivors, boxes.
    xyxy = np.empty((n, 4), np.float32)
    score = np.empty(n, np.float32)
    cls = np.empty(n, np.int32)
    rows = np.empty(n, np.int32)
    k = 0
    for a in range(n):
        if best[a] >= score_threshold:
            _emit(k, raw[0, a], raw[1, a], raw[2, a], raw[3, a], geom, xyxy)
            score[k] = best[a]
            c = classes[0]
            for j in range(classes.shape[0]):
                if raw[4 + classes[j], a] == best[a]:
                    c = classes[j]
                    break
            cls[k] = c
            rows[k] = a
            k += 1
    return xyxy[:k].copy(), score[:k].copy(), cls[:k].copy(), rows[:k].copy()


# --- fused YOLOX decode + score + grouped NMS -----------------------------------------------------
@njit(cache=True, nogil=True)
def _cell(a, input_h, input_w, strides):
    """(gx, gy, stride) of anchor index ``a`` (strides in output order, row-major grids)."""
    for si in range(strides.shape[0]):
        s = strides[si]
        gw = input_w // s
        cells = (input_h // s) * gw
        if a < cells:
            return a % gw, a // gw, s
        a -= cells
    return 0, 0, strides[0]  # unreachable for a validated anchor index


@njit(cache=True, nogil=True)
def _box_iou32(b, i, j):
    """IoU of rows i and j of (K, 4) float32 ``b``, same float32 operations as ``boxes.hpp``."""
    zero = np.float32(0.0)
    ai = max(b[i, 2] - b[i, 0], zero) * max(b[i, 3] - b[i, 1], zero)
    aj = max(b[j, 2] - b[j, 0], zero) * max(b[j, 3] - b[j, 1], zero)
    iw = max(min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]), zero)
    ih = max(min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]), zero)
    inter = iw * ih
    union = (ai + aj) - inter
    return inter / union if union > zero else zero


@njit(cache=True, nogil=True)
def _greedy_nms(xyxy, score, group, iou_threshold, max_det):
    """Kept candidate indices by descending score (ties: lower index; NaN never kept)."""
    k = score.shape[0]
    order = np.argsort(-score, kind="mergesort")  # stable: ties keep candidate (anchor) order
    keep = np.empty(min(k, max_det), np.int64)
    n_keep = 0
    thr = np.float32(iou_threshold)
    for oi in range(k):
        if n_keep >= max_det:
            break
        i = order[oi]
        if math.isnan(score[i]):
            continue
        suppressed = False
        for q in range(n_keep):
            j = keep[q]
            if group[j] == group[i] and _box_iou32(xyxy, i, j) > thr:
                suppressed = True
                break
        if not suppressed:
            keep[n_keep] = i
            n_keep += 1
    return keep[:n_keep]


@njit(cache=True, nogil=True)
def decode_nms_yolox_nb(
    raw, input_h, input_w, strides, geom, score_threshold, classes, class_bound,
    group_of_class, iou_threshold, max_det,
):  # fmt: skip
    """Decode, score and grouped NMS in one pass; ``class_bound`` < 0 means compute it exactly.

    Step 1 reads only the objectness column: an anchor whose ``obj * class_bound`` is below the
    threshold cannot pass (exact for obj >= 0 and every allowed class score <= class_bound), so
    its 80 class scores are never touched. Step 2 scores the survivors, Step 3 suppresses.
    """
    n = raw.shape[0]
    bound = np.float32(class_bound) if class_bound >= 0 else _class_bound(raw, 5, classes)
    # Step 1: candidates from the objectness column alone.
    cand = np.empty(n, np.int64)
    k = 0
    for a in range(n):
        obj = raw[a, 4]
        if obj >= 0 and obj * bound < score_threshold:
            continue
        cand[k] = a
        k += 1
    # Step 2: best allowed class, score and box of each candidate.
    xyxy = np.empty((k, 4), np.float32)
    score = np.empty(k, np.float32)
    cls = np.empty(k, np.int32)
    rows = np.empty(k, np.int32)
    m = 0
    for ci in range(k):
        a = cand[ci]
        r = raw[a]
        best = _max_score(r, 5, classes)
        sc = r[4] * best
        if sc >= score_threshold:
            gx, gy, s = _cell(a, input_h, input_w, strides)
            _emit_yolox(m, r, gx, gy, s, geom, xyxy)
            score[m] = sc
            cls[m] = _argmax_class(r, 5, classes, best)
            rows[m] = a
            m += 1
    # Step 3: greedy NMS within the groups of the classes.
    return _grouped_nms_kept(xyxy, score, cls, rows, m, group_of_class, iou_threshold, max_det)


@njit(cache=True, nogil=True)
def _grouped_nms_kept(xyxy, score, cls, rows, m, group_of_class, iou_threshold, max_det):
    """Greedy NMS over the first ``m`` candidates within ``group_of_class[cls]``: the kept
    rows of the four columns, by descending score (also the GFL decoder's last step)."""
    group = np.empty(m, np.int32)
    for i in range(m):
        group[i] = group_of_class[cls[i]]
    keep = _greedy_nms(xyxy[:m], score[:m], group, iou_threshold, max_det)
    nk = keep.shape[0]
    out_xyxy = np.empty((nk, 4), np.float32)
    out_score = np.empty(nk, np.float32)
    out_cls = np.empty(nk, np.int32)
    out_rows = np.empty(nk, np.int32)
    for q in range(nk):
        i = keep[q]
        for c in range(4):
            out_xyxy[q, c] = xyxy[i, c]
        out_score[q] = score[i]
        out_cls[q] = cls[i]
        out_rows[q] = rows[i]
    return out_xyxy, out_score, out_cls, out_rows

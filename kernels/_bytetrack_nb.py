"""Numba ByteTrack step and rectangular assignment (private; use ``carbonedge.kernels``).

``step`` runs one whole frame of :class:`carbonedge.vision.tracking.ByteTrack` over the tracker's
preallocated state arrays: predict, the three associations, the Kalman update, hit counting,
class votes, confirmation, new tracks, eviction and duplicate removal, and the output rows. It
reproduces the NumPy/scipy reference (``carbonedge.vision.tracking._bytetrack_ref``) exactly:
same row order of the state table, IoU in float32 with the operations of the C++ ``box_iou``,
score thresholds compared in float32 (as NumPy compares a float32 array with a Python float),
similarities and costs in float64, and ``lsap``, a line-by-line port of scipy's
``linear_sum_assignment`` (Crouse's shortest augmenting path, scipy/optimize/rectangular_lsap),
so ties are broken as scipy breaks them. Inputs are trusted: the ``ByteTrack`` class owns the
state and ``Detections`` validated the columns.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from carbonedge.kernels._bytetrack_layout import (
    BAD_CLASS,
    CONFIRMED,
    GROW_VOTES,
    HITS,
    ID,
    KALMAN_NOT_SPD,
    LAST,
    LSAP_INVALID,
    OK,
    START,
    TRACKED,
)
from carbonedge.kernels._kalman_nb import initiate, predict, update

_SWP = 1.0 / 20  # Kalman noise weights, the kalman_* wrappers' defaults
_SWV = 1.0 / 160
_DUPLICATE_IOU = np.float32(0.85)  # compared in float32, as the reference's float32 matrix
_F32_ZERO = np.float32(0.0)


# --- scipy's rectangular linear sum assignment ---------------------------------------------------
@njit(cache=True, nogil=True)
def _augmenting_path(nc, cost, u, v, path, row4col, spc, i, sr, sc, remaining):  # pragma: no cover
    """Shortest augmenting path from row ``i``; returns (sink column or -1, its cost)."""
    min_val = 0.0
    num_remaining = nc
    for it in range(nc):
        remaining[it] = nc - it - 1  # reverse order: a constant matrix gives the identity
    sr[:] = False
    sc[:] = False
    spc[:] = np.inf
    sink = -1
    while sink == -1:
        index = -1
        lowest = np.inf
        sr[i] = True
        for it in range(num_remaining):
            j = remaining[it]
            r = min_val + cost[i, j] - u[i] - v[j]
            if r < spc[j]:
                path[j] = i
                spc[j] = r
            # on a tie prefer a column that is still free: it ends the path
            if spc[j] < lowest or (spc[j] == lowest and row4col[j] == -1):
                lowest = spc[j]
                index = it
        min_val = lowest
        if min_val == np.inf:
            return -1, min_val
        j = remaining[index]
        if row4col[j] == -1:
            sink = j
        else:
            i = row4col[j]
        sc[j] = True
        num_remaining -= 1
        remaining[index] = remaining[num_remaining]
    return sink, min_val


@njit(cache=True, nogil=True)
def _solve(cost, col4row):  # pragma: no cover - compiled
    """Crouse's algorithm on a wide (nr <= nc) matrix; fills col4row; 0, or -1 if infeasible."""
    nr, nc = cost.shape
    u = np.zeros(nr)
    v = np.zeros(nc)
    spc = np.empty(nc)
    path = np.full(nc, -1, np.int64)
    row4col = np.full(nc, -1, np.int64)
    sr = np.zeros(nr, np.bool_)
    sc = np.zeros(nc, np.bool_)
    remaining = np.empty(nc, np.int64)
    col4row[:] = -1
    for cur_row in range(nr):
        sink, min_val = _augmenting_path(
            nc, cost, u, v, path, row4col, spc, cur_row, sr, sc, remaining
        )
        if sink < 0:
            return -1
        # update the dual variables
        u[cur_row] += min_val
        for i in range(nr):
            if sr[i] and i != cur_row:
                u[i] += min_val - spc[col4row[i]]
        for j in range(nc):
            if sc[j]:
                v[j] -= min_val - spc[j]
        # augment the previous solution
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            col4row[i], j = j, col4row[i]
            if i == cur_row:
                break
    return 0


@njit(cache=True, nogil=True)
def lsap(cost, rows, cols):  # pragma: no cover - compiled
    """Minimum-cost assignment of the (nr, nc) float64 ``cost``, as scipy's.

    Fills ``rows`` and ``cols`` (int64, at least min(nr, nc) long) with the pairs, rows ascending;
    returns the number of pairs, -2 for a NaN or -inf entry, -1 if infeasible.
    """
    nr, nc = cost.shape
    if nr == 0 or nc == 0:
        return 0
    transpose = nc < nr
    c = cost.T.copy() if transpose else cost
    for x in c.ravel():
        if x != x or x == -np.inf:
            return -2
    k = min(nr, nc)
    col4row = np.empty(k, np.int64)
    if _solve(c, col4row) < 0:
        return -1
    if transpose:  # pairs sorted by the original row (unique values: any sort gives this order)
        order = np.argsort(col4row)
        for t in range(k):
            rows[t] = col4row[order[t]]
            cols[t] = order[t]
    else:
        for t in range(k):
            rows[t] = t
            cols[t] = col4row[t]
    return k


# --- boxes ---------------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _iou32(a, i, b, j):  # pragma: no cover - compiled
    """IoU of float32 boxes a[i] and b[j] with the float32 operations of the C++ box_iou.

    Boxes that do not overlap return 0 early: the full formula gives 0 / union = +0 for them.
    """
    iw = max(min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]), _F32_ZERO)
    if iw == _F32_ZERO:
        return _F32_ZERO
    ih = max(min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]), _F32_ZERO)
    if ih == _F32_ZERO:
        return _F32_ZERO
    area_a = max(a[i, 2] - a[i, 0], _F32_ZERO) * max(a[i, 3] - a[i, 1], _F32_ZERO)
    area_b = max(b[j, 2] - b[j, 0], _F32_ZERO) * max(b[j, 3] - b[j, 1], _F32_ZERO)
    inter = iw * ih
    union = (area_a + area_b) - inter
    return inter / union if union > _F32_ZERO else _F32_ZERO


@njit(cache=True, nogil=True)
def _track_boxes(mean, n):  # pragma: no cover - compiled
    """(n, 4) float32 corners of the tracks' xyah means (computed in float64, then rounded)."""
    out = np.empty((n, 4), np.float32)
    for r in range(n):
        half_w = mean[r, 2] * mean[r, 3] * 0.5
        half_h = mean[r, 3] * 0.5
        out[r, 0] = mean[r, 0] - half_w
        out[r, 1] = mean[r, 1] - half_h
        out[r, 2] = mean[r, 0] + half_w
        out[r, 3] = mean[r, 1] + half_h
    return out


@njit(cache=True, nogil=True)
def _xyah(xyxy, dets):  # pragma: no cover - compiled
    """(K, 4) float64 centre x, centre y, aspect w/h, height of the detection rows ``dets``."""
    out = np.empty((len(dets), 4))
    for k in range(len(dets)):
        d = dets[k]
        x0, y0 = np.float64(xyxy[d, 0]), np.float64(xyxy[d, 1])
        w, h = np.float64(xyxy[d, 2]) - x0, np.float64(xyxy[d, 3]) - y0
        out[k, 0] = x0 + w * 0.5
        out[k, 1] = y0 + h * 0.5
        out[k, 2] = w / h
        out[k, 3] = h
    return out


# --- association ---------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _associate(track_box, tracks, xyxy, dets, conf, fuse, min_similarity):  # pragma: no cover
    """Optimal pairs of ``tracks`` (rows) and ``dets`` with similarity >= min_similarity.

    Similarity is float64(IoU32), times float64(confidence) when ``fuse``; returns (matched track
    rows, matched detection rows, status) with status 0 or an lsap error code.
    """
    nt, nd = len(tracks), len(dets)
    k = min(nt, nd)
    rows = np.empty(k, np.int64)
    cols = np.empty(k, np.int64)
    if k == 0:
        return rows, cols, 0
    max_cost = 1.0 - min_similarity
    cost = np.empty((nt, nd))
    for a in range(nt):
        for b in range(nd):
            sim = np.float64(_iou32(track_box, tracks[a], xyxy, dets[b]))
            if fuse:
                sim *= np.float64(conf[dets[b]])
            c = 1.0 - sim
            cost[a, b] = max_cost + 1e-4 if c > max_cost else c
    got = lsap(cost, rows, cols)
    if got < 0:
        return rows[:0], cols[:0], got
    m = 0
    for t in range(got):
        if cost[rows[t], cols[t]] <= max_cost:
            rows[m] = tracks[rows[t]]
            cols[m] = dets[cols[t]]
            m += 1
    return rows[:m], cols[:m], 0


@njit(cache=True, nogil=True)
def _without(items, used, size):  # pragma: no cover - compiled
    """``items`` minus ``used`` (values < size), order kept."""
    mask = np.zeros(size, np.bool_)
    for x in used:
        mask[x] = True
    out = np.empty(len(items), np.int64)
    m = 0
    for x in items:
        if not mask[x]:
            out[m] = x
            m += 1
    return out[:m]


@njit(cache=True, nogil=True)
def _rows_where(ti, n, col, value):  # pragma: no cover - compiled
    """Track rows (ascending) whose ``col`` flag equals ``value``."""
    out = np.empty(n, np.int64)
    m = 0
    for r in range(n):
        if (ti[r, col] != 0) == value:
            out[m] = r
            m += 1
    return out[:m]


@njit(cache=True, nogil=True)
def _split_by_score(xyxy, conf, thresholds):  # pragma: no cover - compiled
    """Usable rows (finite, positive size) with conf >= high, and with low <= conf < high.

    ``thresholds`` is float32 (high, low, new track), so comparisons are made in float32.
    """
    nd = len(conf)
    high = np.empty(nd, np.int64)
    low = np.empty(nd, np.int64)
    nh = nl = 0
    for d in range(nd):
        x0, y0, x1, y1 = xyxy[d, 0], xyxy[d, 1], xyxy[d, 2], xyxy[d, 3]
        finite = np.isfinite(x0) and np.isfinite(y0) and np.isfinite(x1) and np.isfinite(y1)
        if not (finite and x1 > x0 and y1 > y0):
            continue
        if conf[d] >= thresholds[0]:
            high[nh] = d
            nh += 1
        elif conf[d] >= thresholds[1]:
            low[nl] = d
            nl += 1
    return high[:nh], low[:nl]


# --- state updates -------------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _correct(mean, cov, rows, xyxy, dets):  # pragma: no cover - compiled
    """One batched Kalman update of ``rows`` with detections ``dets``; -1 or the bad batch row."""
    m = len(rows)
    if m == 0:
        return -1
    bm = np.empty((m, 8))
    bc = np.empty((m, 8, 8))
    for k in range(m):
        bm[k] = mean[rows[k]]
        bc[k] = cov[rows[k]]
    bad = update(bm, bc, _xyah(xyxy, dets), _SWP)
    if bad != -1:
        return bad
    for k in range(m):
        mean[rows[k]] = bm[k]
        cov[rows[k]] = bc[k]
    return -1


@njit(cache=True, nogil=True)
def _record_hits(ti, votes, rows, dets, cls, conf, frame, min_hits):  # pragma: no cover
    """Matched this frame: count the hit, vote for the class, confirm after min_hits."""
    for k in range(len(rows)):
        r, d = rows[k], dets[k]
        votes[r, cls[d]] += np.float64(conf[d])
        ti[r, HITS] += 1
        ti[r, LAST] = frame
        ti[r, TRACKED] = 1
        if ti[r, HITS] >= min_hits:
            ti[r, CONFIRMED] = 1


@njit(cache=True, nogil=True)
def _add(mean, cov, votes, ti, n, next_id, xyxy, dets, frame):  # pragma: no cover - compiled
    """Append unconfirmed tracks for detections ``dets`` at rows n..; returns their rows."""
    k = len(dets)
    initiate(_xyah(xyxy, dets), _SWP, _SWV, mean[n : n + k], cov[n : n + k])
    rows = np.empty(k, np.int64)
    for t in range(k):
        r = n + t
        rows[t] = r
        ti[r, ID] = next_id + t
        ti[r, HITS] = 0
        ti[r, START] = frame
        ti[r, LAST] = frame
        ti[r, TRACKED] = 1
        ti[r, CONFIRMED] = 0
        votes[r, :] = 0.0
    return rows


@njit(cache=True, nogil=True)
def _drop_duplicates(mean, ti, n, keep):  # pragma: no cover - compiled
    """Of each kept tracked/lost pair with IoU > 0.85, drop the shorter-lived (tie: tracked).

    Every pair is judged on ``keep`` as it was before this step (as the reference does), so a
    track dropped for one pair still takes part in its other pairs.
    """
    boxes = _track_boxes(mean, n)
    drop = np.zeros(n, np.bool_)
    for t in range(n):
        if not keep[t] or ti[t, TRACKED] == 0:
            continue
        life_t = ti[t, LAST] - ti[t, START]
        for q in range(n):
            if not keep[q] or ti[q, TRACKED] != 0:
                continue
            if _iou32(boxes, t, boxes, q) > _DUPLICATE_IOU:
                if life_t <= ti[q, LAST] - ti[q, START]:
                    drop[t] = True
                else:
                    drop[q] = True
    for r in range(n):
        if drop[r]:
            keep[r] = False


@njit(cache=True, nogil=True)
def _class_range(cls):  # pragma: no cover - compiled
    """(min, max) of the class ids, (0, -1) when there are none."""
    lo, hi = 0, -1
    for k in range(len(cls)):
        c = np.int64(cls[k])
        if k == 0 or c < lo:
            lo = c
        if k == 0 or c > hi:
            hi = c
    return lo, hi


@njit(cache=True, nogil=True)
def _output(votes, ti, keep, rows, dets, xyxy, conf, src):  # pragma: no cover - compiled
    """Detection rows matched to kept confirmed tracks, in input order: (xyxy, confidence,
    voted class (first maximum), tracker id, source row)."""
    row_of = np.full(len(conf), -1, np.int64)
    m = 0
    for k in range(len(rows)):
        r = rows[k]
        if keep[r] and ti[r, CONFIRMED] != 0:
            row_of[dets[k]] = r
            m += 1
    out_xyxy = np.empty((m, 4), np.float32)
    out_conf = np.empty(m, np.float32)
    out_cls = np.empty(m, np.int32)
    out_tid = np.empty(m, np.int64)
    out_src = np.empty(m, np.int32)
    k = 0
    for d in range(len(conf)):
        r = row_of[d]
        if r < 0:
            continue
        out_xyxy[k] = xyxy[d]
        out_conf[k] = conf[d]
        best = 0
        for c in range(1, votes.shape[1]):
            if votes[r, c] > votes[r, best]:
                best = c
        out_cls[k] = best
        out_tid[k] = ti[r, ID]
        out_src[k] = src[d]
        k += 1
    return out_xyxy, out_conf, out_cls, out_tid, out_src


@njit(cache=True, nogil=True)
def _compact(mean, cov, votes, ti, n, keep, removed):  # pragma: no cover - compiled
    """Drop rows where ``keep`` is False, order kept; removed confirmed ids go to ``removed``.

    Returns (rows left, ids written to removed).
    """
    w = 0
    n_removed = 0
    for r in range(n):
        if not keep[r]:
            if ti[r, CONFIRMED] != 0:
                removed[n_removed] = ti[r, ID]
                n_removed += 1
            continue
        if w != r:
            mean[w] = mean[r]
            cov[w] = cov[r]
            votes[w] = votes[r]
            ti[w] = ti[r]
        w += 1
    return w, n_removed


@njit(cache=True, nogil=True)
def _no_output():  # pragma: no cover - compiled
    """The five empty output columns (for an early return)."""
    return (
        np.empty((0, 4), np.float32),
        np.empty(0, np.float32),
        np.empty(0, np.int32),
        np.empty(0, np.int64),
        np.empty(0, np.int32),
    )


@njit(cache=True, nogil=True)
def _match_all(box, ti, n, xyxy, conf, high, low, fuse, similarities):  # pragma: no cover
    """Steps 2 to 4: the three associations.

    Returns (matched track rows, their detection rows, newly lost rows, failed unconfirmed rows,
    unmatched high-score detections, status: 0 or an lsap error code).
    """
    nd = len(conf)
    # Step 2: first association, high-score detections vs confirmed tracks (tracked and lost)
    pool = _rows_where(ti, n, CONFIRMED, True)
    t1, d1, s1 = _associate(box, pool, xyxy, high, conf, fuse, similarities[0])
    rest_tracks = _without(pool, t1, n)
    rest_high = _without(high, d1, nd)

    # Step 3: second association, low-score detections vs the remaining tracked tracks
    rest_tracked = np.empty(len(rest_tracks), np.int64)
    m = 0
    for r in rest_tracks:
        if ti[r, TRACKED] != 0:
            rest_tracked[m] = r
            m += 1
    rest_tracked = rest_tracked[:m]
    t2, d2, s2 = _associate(box, rest_tracked, xyxy, low, conf, False, similarities[1])
    newly_lost = _without(rest_tracked, t2, n)

    # Step 4: unconfirmed tracks vs the remaining high-score detections
    unconfirmed = _rows_where(ti, n, CONFIRMED, False)
    t3, d3, s3 = _associate(box, unconfirmed, xyxy, rest_high, conf, fuse, similarities[2])
    failed_unconfirmed = _without(unconfirmed, t3, n)
    rest_high = _without(rest_high, d3, nd)
    status = s1 if s1 != 0 else (s2 if s2 != 0 else s3)
    rows = np.concatenate((t1, t2, t3))
    dets = np.concatenate((d1, d2, d3))
    return rows, dets, newly_lost, failed_unconfirmed, rest_high, status


@njit(cache=True, nogil=True)
def step(
    mean, cov, votes, ti, n, frame, next_id, xyxy, conf, cls, src,
    thresholds, similarities, fuse, lost_buffer, min_hits, removed,
):  # fmt: skip  # pragma: no cover - compiled
    """One ByteTrack frame over the state rows 0..n-1 (capacity >= n + len(conf)).

    Args:
        mean (C, 8), cov (C, 8, 8), votes (C, K) float64; ti (C, 6) int64 (ID, HITS, START,
        LAST, TRACKED, CONFIRMED): the track table, modified in place.
        n: rows in use. frame: this frame's number (already advanced). next_id: next new id.
        xyxy (N, 4) float32, conf (N,) float32, cls (N,) int32, src (N,) int32: detections.
        thresholds: float32 (high_score, low_score, new_track_score).
        similarities: float64 (match_iou, second_match_iou, unconfirmed_match_iou).
        fuse: multiply IoU by the detection score in the first and unconfirmed associations.
        lost_buffer: frames a lost track is kept. min_hits: hits that confirm a track.
        removed (C,) int64: receives the ids of confirmed tracks removed this frame.

    Returns:
        (status, detail, n, next_id, n_removed, (out_xyxy, out_conf, out_cls, out_tid,
        out_src)); on a status other than OK, ``detail`` says more (see the codes above).
    """
    lo, hi = _class_range(cls)
    if lo < 0:
        return BAD_CLASS, lo, n, next_id, 0, _no_output()
    if hi >= votes.shape[1]:
        return GROW_VOTES, hi + 1, n, next_id, 0, _no_output()
    high, low = _split_by_score(xyxy, conf, thresholds)

    # Step 1: predict every track (lost tracks stop growing or shrinking, as in ByteTrack)
    for r in range(n):
        if ti[r, TRACKED] == 0:
            mean[r, 7] = 0.0
    predict(mean[:n], cov[:n], _SWP, _SWV, 1.0)
    box = _track_boxes(mean, n)

    # Steps 2-4: the three associations
    rows, dets, newly_lost, failed_unconfirmed, rest_high, status = _match_all(
        box, ti, n, xyxy, conf, high, low, fuse, similarities
    )
    if status != 0:
        return LSAP_INVALID, status, n, next_id, 0, _no_output()

    # Step 5: one batched Kalman update for every matched track, hits and class votes
    bad = _correct(mean, cov, rows, xyxy, dets)
    if bad != -1:
        return KALMAN_NOT_SPD, bad, n, next_id, 0, _no_output()
    _record_hits(ti, votes, rows, dets, cls, conf, frame, min_hits)
    for r in newly_lost:
        ti[r, TRACKED] = 0

    # Step 6: new tracks from unmatched high-score detections
    new_dets = np.empty(len(rest_high), np.int64)
    m = 0
    for d in rest_high:
        if conf[d] >= thresholds[2]:
            new_dets[m] = d
            m += 1
    new_dets = new_dets[:m]
    new_rows = _add(mean, cov, votes, ti, n, next_id, xyxy, new_dets, frame)
    _record_hits(ti, votes, new_rows, new_dets, cls, conf, frame, min_hits)
    rows = np.concatenate((rows, new_rows))
    dets = np.concatenate((dets, new_dets))
    n += m

    # Step 7: evict unmatched unconfirmed, expired lost and duplicate tracks; output the rest
    keep = np.empty(n, np.bool_)
    for r in range(n):
        keep[r] = frame - ti[r, LAST] <= lost_buffer
    for r in failed_unconfirmed:
        keep[r] = False
    _drop_duplicates(mean, ti, n, keep)
    out = _output(votes, ti, keep, rows, dets, xyxy, conf, src)
    n, n_removed = _compact(mean, cov, votes, ti, n, keep, removed)
    return OK, 0, n, next_id + m, n_removed, out

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Motion kernels (private): selective running-average background and 8-connected components.

Inputs are validated and coerced by ``carbonedge.kernels.motion``; these functions trust them.
Both loops run without the GIL.
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport fabsf
from libc.stdlib cimport free, malloc, realloc

cnp.import_array()


def motion_update(const cnp.uint8_t[:, ::1] gray, float[:, ::1] background,
                  float alpha, float alpha_foreground, float threshold_levels,
                  cnp.uint8_t[:, ::1] out_mask):
    """Foreground mask (0/255) into ``out_mask``; ``background`` moves toward ``gray`` in place.

    Per pixel, in float32: d = gray - bg; fg = |d| > threshold_levels; bg += (fg ? alpha_fg : alpha) * d.
    """
    cdef Py_ssize_t h = gray.shape[0], w = gray.shape[1], y, x
    cdef float d, a
    cdef bint fg
    cdef const cnp.uint8_t* g
    cdef float* b
    cdef cnp.uint8_t* m
    if h == 0 or w == 0:
        return
    with nogil:
        for y in range(h):
            g = &gray[y, 0]
            b = &background[y, 0]
            m = &out_mask[y, 0]
            for x in range(w):  # branch-free body over raw rows so that the compiler vectorises it
                d = <float>g[x] - b[x]
                fg = fabsf(d) > threshold_levels
                a = alpha_foreground if fg else alpha
                m[x] = 255 if fg else 0
                b[x] = b[x] + a * d


cdef inline cnp.int32_t _find(cnp.int32_t* parent, cnp.int32_t i) noexcept nogil:
    """Root of ``i`` with path halving; roots are the smallest label of their set."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


cdef inline cnp.int32_t _union(cnp.int32_t* parent, cnp.int32_t a, cnp.int32_t b) noexcept nogil:
    """Merge the sets of ``a`` and ``b``; the smaller root wins (keeps raster order of roots)."""
    a = _find(parent, a)
    b = _find(parent, b)
    if a < b:
        parent[b] = a
        return a
    parent[a] = b
    return b


cdef struct _Table:
    cnp.int32_t* parent   # (cap,) union-find parents
    cnp.int32_t* stats    # (cap, 5): min_x, min_y, max_x, max_y, area
    cnp.int32_t n         # labels used, label 0 is background
    cnp.int32_t cap


cdef inline int _new_label(_Table* t, cnp.int32_t x, cnp.int32_t y) noexcept nogil:
    """Append a provisional label for pixel (x, y); returns -1 when memory runs out."""
    cdef cnp.int32_t* p
    cdef cnp.int32_t* s
    cdef cnp.int32_t lab
    if t.n == t.cap:
        p = <cnp.int32_t*>realloc(t.parent, 2 * t.cap * sizeof(cnp.int32_t))
        if p == NULL:
            return -1
        t.parent = p
        s = <cnp.int32_t*>realloc(t.stats, 10 * t.cap * sizeof(cnp.int32_t))
        if s == NULL:
            return -1
        t.stats = s
        t.cap = 2 * t.cap
    lab = t.n
    t.n += 1
    t.parent[lab] = lab
    t.stats[5 * lab] = x
    t.stats[5 * lab + 1] = y
    t.stats[5 * lab + 2] = x
    t.stats[5 * lab + 3] = y
    t.stats[5 * lab + 4] = 0
    return lab


cdef int _scan(const cnp.uint8_t[:, ::1] mask, _Table* t,
               cnp.int32_t* prev, cnp.int32_t* cur) noexcept nogil:
    """Pass 1: provisional labels row by row (two label rows kept), equivalences, per-label stats.

    Neighbours of (y, x) already visited: a=(y-1,x-1), b=(y-1,x), c=(y-1,x+1), d=(y,x-1). If b is
    set it touches all the others (8-connectivity), so its label is taken as is; otherwise c may
    bridge a or d. Returns -1 when memory runs out.
    """
    cdef Py_ssize_t h = mask.shape[0], w = mask.shape[1], y, x
    cdef cnp.int32_t lab, lc, la, ld
    cdef cnp.int32_t* tmp
    cdef cnp.int32_t* s
    for x in range(w + 2):
        prev[x] = 0  # rows are padded by one column on each side
    for y in range(h):
        cur[0] = 0
        cur[w + 1] = 0
        for x in range(w):
            if mask[y, x] == 0:
                cur[x + 1] = 0
                continue
            lab = prev[x + 1]
            if lab == 0:
                lc = prev[x + 2]
                la = prev[x]
                ld = cur[x]
                if lc != 0:
                    lab = lc
                    if la != 0:
                        lab = _union(t.parent, lc, la)
                    elif ld != 0:
                        lab = _union(t.parent, lc, ld)
                elif la != 0:
                    lab = la
                elif ld != 0:
                    lab = ld
                else:
                    lab = _new_label(t, <cnp.int32_t>x, <cnp.int32_t>y)
                    if lab < 0:
                        return -1
            cur[x + 1] = lab
            s = t.stats + 5 * lab
            if x < s[0]:
                s[0] = <cnp.int32_t>x
            if x > s[2]:
                s[2] = <cnp.int32_t>x
            s[3] = <cnp.int32_t>y  # rows are visited in order
            s[4] += 1
        tmp = prev
        prev = cur
        cur = tmp
    return 0


cdef cnp.int32_t _resolve(_Table* t) noexcept nogil:
    """Pass 2 over the label table: number the roots in order and merge stats into rows 1..K.

    ``parent[i] <= i`` always holds (smaller roots win, path halving only moves pointers down),
    so one increasing sweep resolves every label; ``parent`` is overwritten with final numbers on
    the way. Roots are the first label of their component in raster order, so components come out
    in that order. Row ``final`` of ``stats`` is never read again once written (final <= i).
    """
    cdef cnp.int32_t i, r, f, k = 0
    cdef cnp.int32_t* s
    cdef cnp.int32_t* d
    for i in range(1, t.n):
        r = t.parent[i]
        s = t.stats + 5 * i
        if r == i:
            k += 1
            t.parent[i] = k
            d = t.stats + 5 * k
            d[0] = s[0]
            d[1] = s[1]
            d[2] = s[2]
            d[3] = s[3]
            d[4] = s[4]
            continue
        f = t.parent[r]  # r < i: already replaced by its final number
        t.parent[i] = f
        d = t.stats + 5 * f
        if s[0] < d[0]:
            d[0] = s[0]
        if s[1] < d[1]:
            d[1] = s[1]
        if s[2] > d[2]:
            d[2] = s[2]
        if s[3] > d[3]:
            d[3] = s[3]
        d[4] += s[4]
    return k


cdef tuple _collect(_Table* t, int min_area_px):
    """Outputs from the resolved table: boxes (K, 4) float32 and areas (K,) int32."""
    cdef cnp.int32_t k, i, j = 0, n = 0
    cdef cnp.int32_t* s
    with nogil:
        k = _resolve(t)
        for i in range(1, k + 1):
            if t.stats[5 * i + 4] >= min_area_px:
                n += 1
    boxes_arr = np.empty((n, 4), np.float32)
    areas_arr = np.empty(n, np.int32)
    cdef float[:, ::1] boxes = boxes_arr
    cdef cnp.int32_t[::1] areas = areas_arr
    with nogil:
        for i in range(1, k + 1):
            s = t.stats + 5 * i
            if s[4] < min_area_px:
                continue
            boxes[j, 0] = <float>s[0]
            boxes[j, 1] = <float>s[1]
            boxes[j, 2] = <float>(s[2] + 1)
            boxes[j, 3] = <float>(s[3] + 1)
            areas[j] = s[4]
            j += 1
    return boxes_arr, areas_arr


def connected_components(const cnp.uint8_t[:, ::1] mask, int min_area_px):
    """Boxes (K, 4) float32 xyxy (exclusive x2, y2) and areas (K,) int32 of 8-connected blobs."""
    cdef Py_ssize_t h = mask.shape[0], w = mask.shape[1]
    cdef _Table t
    cdef cnp.int32_t* prev = <cnp.int32_t*>malloc((w + 2) * sizeof(cnp.int32_t))
    cdef cnp.int32_t* cur = <cnp.int32_t*>malloc((w + 2) * sizeof(cnp.int32_t))
    t.cap = 256
    t.n = 1
    t.parent = <cnp.int32_t*>malloc(t.cap * sizeof(cnp.int32_t))
    t.stats = <cnp.int32_t*>malloc(5 * t.cap * sizeof(cnp.int32_t))
    cdef int rc = -1
    try:
        if prev != NULL and cur != NULL and t.parent != NULL and t.stats != NULL:
            with nogil:
                rc = _scan(mask, &t, prev, cur)
        if rc < 0:
            raise MemoryError("connected_components: out of memory for the label table")
        return _collect(&t, min_area_px)
    finally:
        free(prev)
        free(cur)
        free(t.parent)
        free(t.stats)

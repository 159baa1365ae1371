# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Fire/smoke kernels (private): smoke background update, flame colour mask, flicker counter.

Inputs are validated and coerced by ``carbonedge.kernels.fire``; these functions trust them. Every
loop runs without the GIL, over raw rows, in float32.
"""

import numpy as np

cimport numpy as cnp
from libc.math cimport fabsf, sqrtf

cnp.import_array()


def smoke_update(const float[:, ::1] luma, float[:, ::1] background, float[:, ::1] variance,
                 float threshold_levels, float k_sigma, float alpha, float alpha_candidate,
                 float alpha_variance, cnp.uint8_t[:, ::1] out_mask):
    """Brightening mask (0/255) into ``out_mask``; background and noise variance updated in place.

    Per pixel: d = luma - bg; candidate = d > threshold_levels + k_sigma * sqrt(var);
    bg += (candidate ? alpha_candidate : alpha) * d; where d < 0: var += alpha_variance * (d*d - var).
    Returns the number of candidate pixels.
    """
    cdef Py_ssize_t h = luma.shape[0], w = luma.shape[1], y, x
    cdef Py_ssize_t count = 0
    cdef float d, a
    cdef bint cand
    cdef const float* l
    cdef float* b
    cdef float* v
    cdef cnp.uint8_t* m
    if h == 0 or w == 0:
        return 0
    with nogil:
        for y in range(h):
            l = &luma[y, 0]
            b = &background[y, 0]
            v = &variance[y, 0]
            m = &out_mask[y, 0]
            for x in range(w):
                d = l[x] - b[x]
                cand = d > threshold_levels + k_sigma * sqrtf(v[x])
                a = alpha_candidate if cand else alpha
                m[x] = 255 if cand else 0
                count += cand
                b[x] = b[x] + a * d
                if d < 0:
                    v[x] = v[x] + alpha_variance * (d * d - v[x])
    return count


def flame_mask(const cnp.uint8_t[:, :, ::1] bgr, float min_red, float min_cr_minus_cb,
               cnp.uint8_t[:, ::1] out_mask):
    """Flame-coloured pixels (0/255) into ``out_mask``; returns their number.

    Per pixel (BT.601 YCbCr from 8-bit BGR): R >= min_red, R >= G > B, Y > Cb, Cr > Cb and
    Cr - Cb >= min_cr_minus_cb.
    """
    cdef Py_ssize_t h = bgr.shape[0], w = bgr.shape[1], yy, x
    cdef Py_ssize_t count = 0
    cdef float b, g, r, lum, cb, cr
    cdef bint hit
    cdef const cnp.uint8_t* p
    cdef cnp.uint8_t* m
    if h == 0 or w == 0:
        return 0
    with nogil:
        for yy in range(h):
            p = &bgr[yy, 0, 0]
            m = &out_mask[yy, 0]
            for x in range(w):
                b = p[3 * x]
                g = p[3 * x + 1]
                r = p[3 * x + 2]
                lum = <float>0.299 * r + <float>0.587 * g + <float>0.114 * b
                cb = <float>128.0 + <float>0.564 * (b - lum)
                cr = <float>128.0 + <float>0.713 * (r - lum)
                hit = (r >= min_red) and (r >= g) and (g > b) and (lum > cb) and (cr > cb) and (
                    cr - cb >= min_cr_minus_cb)
                m[x] = 255 if hit else 0
                count += hit
    return count


def flicker_update(const cnp.uint8_t[:, ::1] mask, cnp.uint8_t[:, ::1] previous,
                   float[:, ::1] flicker, float decay):
    """Flicker score in place: flicker = decay * flicker + (mask != previous), then 0 where
    |flicker| < 1e-30 (no subnormal is ever stored); previous = mask."""
    cdef Py_ssize_t h = mask.shape[0], w = mask.shape[1], y, x
    cdef const cnp.uint8_t* m
    cdef cnp.uint8_t* p
    cdef float* f
    cdef float v
    # |score| < 1e-30 is stored as 0: a decaying score would otherwise reach the float32
    # subnormals (10-100x slower per pixel) and, at decay > 0.5, stay there for good (the
    # smallest subnormal times 0.8 rounds back to itself)
    cdef float flush = <float>1e-30
    if h == 0 or w == 0:
        return
    with nogil:
        for y in range(h):
            m = &mask[y, 0]
            p = &previous[y, 0]
            f = &flicker[y, 0]
            for x in range(w):
                v = decay * f[x] + (<float>1.0 if (m[x] != 0) != (p[x] != 0) else <float>0.0)
                f[x] = <float>0.0 if fabsf(v) < flush else v  # NaN stays NaN
                p[x] = m[x]

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Camera-moved kernel (private): per-tile edge agreement of a live frame with a reference.

Inputs are validated and coerced by ``carbonedge.kernels.camera_moved``; this function trusts them
(tiles lie inside the images with a margin of ``max_shift_px``). The loops run without the GIL.
"""

from libc.math cimport sqrt
from libc.stdlib cimport calloc, free


cdef extern from *:
    """
    /* row[k] += sum over x < n_px of rx[x] * lx[x + k] + ry[x] * ly[x + k], k < n: the inner
       loop runs over the shifts k (contiguous, no reduction); restrict lets it vectorise. */
    static void cm_row_dots(const float *__restrict rx, const float *__restrict ry,
                            const float *__restrict lx, const float *__restrict ly,
                            Py_ssize_t n_px, int n, float *__restrict row) {
        for (Py_ssize_t x = 0; x < n_px; ++x) {
            const float a = rx[x], b = ry[x];
            const float *__restrict px = lx + x, *__restrict py = ly + x;
            for (int k = 0; k < n; ++k) row[k] += a * px[k] + b * py[k];
        }
    }
    """
    void cm_row_dots(const float* rx, const float* ry, const float* lx, const float* ly,
                     Py_ssize_t n_px, int n, float* row) noexcept nogil


def tile_shift_scores(const float[:, ::1] ref_gx, const float[:, ::1] ref_gy,
                      const float[:, ::1] live_gx, const float[:, ::1] live_gy,
                      const int[:, ::1] tiles_xyxy, int max_shift_px, float[:, :, ::1] out):
    """``out[t, dy + R, dx + R]``: cosine similarity of the reference gradients in tile ``t`` and
    the live gradients at the same pixels shifted by ``(dx, dy)``; 0 when either has no energy.

    Step 1: an integral image of the live gradient energy (every shifted window's energy in O(1)).
    Step 2: per tile, per vertical shift and row, the dot products of all horizontal shifts at
    once: the innermost loop runs over the shifts (contiguous live pixels, no reduction), so the
    compiler vectorises it; row sums in float, tile sums in double.
    """
    cdef Py_ssize_t h = live_gx.shape[0], w = live_gx.shape[1], n_tiles = tiles_xyxy.shape[0]
    cdef int r = max_shift_px, n = 2 * max_shift_px + 1, dx, dy, k
    cdef Py_ssize_t t, y, x, x0, x1, y0, y1, stride = w + 1
    cdef double ref_e, live_e, den, run
    cdef double* integ = <double*>calloc((h + 1) * (w + 1), sizeof(double))
    cdef float* row = <float*>calloc(n, sizeof(float))
    cdef double* acc = <double*>calloc(n * n, sizeof(double))
    if integ == NULL or row == NULL or acc == NULL:
        free(integ)
        free(row)
        free(acc)
        raise MemoryError()
    try:
        with nogil:
            # Step 1: integral image, integ[(y + 1) * stride + x + 1] = sum over [0, y] x [0, x]
            for y in range(h):
                run = 0.0
                for x in range(w):
                    run += live_gx[y, x] * live_gx[y, x] + live_gy[y, x] * live_gy[y, x]
                    integ[(y + 1) * stride + x + 1] = integ[y * stride + x + 1] + run
            for t in range(n_tiles):
                x0, y0 = tiles_xyxy[t, 0], tiles_xyxy[t, 1]
                x1, y1 = tiles_xyxy[t, 2], tiles_xyxy[t, 3]
                ref_e = 0.0
                for y in range(y0, y1):
                    for x in range(x0, x1):
                        ref_e += ref_gx[y, x] * ref_gx[y, x] + ref_gy[y, x] * ref_gy[y, x]
                # Step 2: dot products for every shift
                for k in range(n * n):
                    acc[k] = 0.0
                for dy in range(-r, r + 1):
                    for y in range(y0, y1):
                        for k in range(n):
                            row[k] = 0.0
                        cm_row_dots(&ref_gx[y, x0], &ref_gy[y, x0], &live_gx[y + dy, x0 - r],
                                    &live_gy[y + dy, x0 - r], x1 - x0, n, row)
                        for k in range(n):
                            acc[(dy + r) * n + k] += row[k]
                for dy in range(-r, r + 1):
                    for dx in range(-r, r + 1):
                        live_e = (integ[(y1 + dy) * stride + x1 + dx]
                                  - integ[(y0 + dy) * stride + x1 + dx]
                                  - integ[(y1 + dy) * stride + x0 + dx]
                                  + integ[(y0 + dy) * stride + x0 + dx])
                        den = sqrt(ref_e * live_e) if live_e > 0.0 else 0.0
                        out[t, dy + r, dx + r] = (
                            <float>(acc[(dy + r) * n + dx + r] / den) if den > 0.0 else 0.0
                        )
    finally:
        free(integ)
        free(row)
        free(acc)

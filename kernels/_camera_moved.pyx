# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Camera-moved kernel (private): per-tile edge agreement of a live frame with a reference.

Inputs are validated and coerced by ``carbonedge.kernels.camera_moved``; this function trusts them
(tiles lie inside the images with a margin of ``max_shift_px``). The loops run without the GIL.
"""

from libc.math cimport sqrt
from libc.stdlib cimport calloc, free


def tile_shift_scores(const float[:, ::1] ref_gx, const float[:, ::1] ref_gy,
                      const float[:, ::1] live_gx, const float[:, ::1] live_gy,
                      const int[:, ::1] tiles_xyxy, int max_shift_px, float[:, :, ::1] out):
    """``out[t, dy + R, dx + R]``: cosine similarity of the reference gradients in tile ``t`` and
    the live gradients at the same pixels shifted by ``(dx, dy)``; 0 when either has no energy.

    Step 1: an integral image of the live gradient energy (every shifted window's energy in O(1)).
    Step 2: per tile and shift, the dot products row by row in eight float lanes (an element-wise
    inner loop the compiler vectorises without reordering a reduction); tile sums in double.
    """
    cdef Py_ssize_t h = live_gx.shape[0], w = live_gx.shape[1], n_tiles = tiles_xyxy.shape[0]
    cdef int r = max_shift_px, n = 2 * max_shift_px + 1, dx, dy, k
    cdef Py_ssize_t t, y, x, x0, x1, y0, y1, stride = w + 1
    cdef double ref_e, live_e, den, run
    cdef float lane[8]
    cdef int j
    cdef const float* rx
    cdef const float* ry
    cdef const float* lx
    cdef const float* ly
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
                for dy in range(-r, r + 1):
                    for dx in range(-r, r + 1):
                        run = 0.0
                        for y in range(y0, y1):
                            rx = &ref_gx[y, 0]
                            ry = &ref_gy[y, 0]
                            lx = &live_gx[y + dy, 0] + dx  # lx[x] = live_gx[y + dy, x + dx]
                            ly = &live_gy[y + dy, 0] + dx
                            for j in range(8):
                                lane[j] = 0.0
                            x = x0
                            while x + 8 <= x1:  # eight lanes: an element-wise loop, vectorised
                                for j in range(8):
                                    lane[j] += rx[x + j] * lx[x + j] + ry[x + j] * ly[x + j]
                                x += 8
                            while x < x1:
                                lane[0] += rx[x] * lx[x] + ry[x] * ly[x]
                                x += 1
                            run += ((lane[0] + lane[1]) + (lane[2] + lane[3])
                                    + (lane[4] + lane[5]) + (lane[6] + lane[7]))
                        acc[(dy + r) * n + dx + r] = run
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

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Fused letterbox: bilinear resize + pad + channel swap + normalise + HWC->CHW, in one pass.

Private backend of :func:`carbonedge.kernels.preprocess.letterbox_chw`; the wrapper validates
input and computes the geometry. Bilinear follows OpenCV's INTER_LINEAR half-pixel convention
(``src = (dst + 0.5) * src_n / dst_n - 0.5``, clamped to the edges). Each needed source row is
interpolated horizontally once into a planar float row cache, then two cached rows are blended
vertically, normalised and written to the three output planes. The GIL is released throughout.
"""

from libc.math cimport floor
from libc.stdlib cimport free, malloc


cdef void _coeffs(int src_n, int dst_n, int* i0, int* i1, float* frac) noexcept nogil:
    """Source indices and weights of each destination position along one axis."""
    cdef double scale = <double>src_n / <double>dst_n
    cdef float f
    cdef int d, s
    for d in range(dst_n):
        f = <float>((d + 0.5) * scale - 0.5)
        s = <int>floor(f)
        f = f - s
        if s < 0:
            s = 0
            f = 0.0
        if s >= src_n - 1:
            s = src_n - 1
            f = 0.0
        i0[d] = s
        i1[d] = s + 1 if s + 1 < src_n else src_n - 1
        frac[d] = f


cdef void _hrow(const unsigned char* src, int src_w, int new_w, const int* x0,
                const float* ax, const int* src_c, float* fsrc, float* dst) noexcept nogil:
    """Horizontal interpolation of one source row into a planar (3, new_w) float row.

    The row is first widened to float in one contiguous (vectorised) pass into ``fsrc`` (3 *
    src_w + 3 floats; the last pixel is repeated once, so the right neighbour of a column is
    always 3 floats further, with weight 0 at the edge). ``x0`` holds element offsets (3 *
    column) of the left source pixels.
    """
    cdef int x
    cdef const float* p
    cdef int c0 = src_c[0], c2 = src_c[2]
    cdef int n = 3 * src_w
    cdef float a, v
    cdef float* d0 = dst
    cdef float* d1 = dst + new_w
    cdef float* d2 = dst + 2 * new_w
    for x in range(n):
        fsrc[x] = <float>src[x]
    fsrc[n] = fsrc[n - 3]
    fsrc[n + 1] = fsrc[n - 2]
    fsrc[n + 2] = fsrc[n - 1]
    for x in range(new_w):
        p = fsrc + x0[x]
        a = ax[x]
        v = p[c0]
        d0[x] = v + (p[3 + c0] - v) * a
        v = p[1]
        d1[x] = v + (p[4] - v) * a
        v = p[c2]
        d2[x] = v + (p[3 + c2] - v) * a


cdef float _U8[256]  # uint8 -> float table: a load is cheaper than a scalar int->float convert
for _i in range(256):
    _U8[_i] = <float>_i


cdef void _hrow_bytes(const unsigned char* src, int new_w, const int* x0, const int* x1,
                      const float* ax, const int* src_c, float* dst) noexcept nogil:
    """As :func:`_hrow`, gathering bytes straight from the row: better when the row is much
    wider than the output (a strong downscale), where widening all of it would cost more.
    ``x0``/``x1``: element offsets (3 * column) of the left and right source pixels."""
    cdef int x
    cdef const unsigned char* p0
    cdef const unsigned char* p1
    cdef int c0 = src_c[0], c2 = src_c[2]
    cdef float a, v
    cdef float* d0 = dst
    cdef float* d1 = dst + new_w
    cdef float* d2 = dst + 2 * new_w
    for x in range(new_w):
        p0 = src + x0[x]
        p1 = src + x1[x]
        a = ax[x]
        v = _U8[p0[c0]]
        d0[x] = v + (_U8[p1[c0]] - v) * a
        v = _U8[p0[1]]
        d1[x] = v + (_U8[p1[1]] - v) * a
        v = _U8[p0[c2]]
        d2[x] = v + (_U8[p1[c2]] - v) * a


cdef inline void _row(const unsigned char* src, int src_w, int new_w, const int* x0,
                      const int* x1, const float* ax, const int* src_c, float* fsrc,
                      float* dst) noexcept nogil:
    """Widen the whole row first unless it is more than twice as wide as the output."""
    if src_w <= 2 * new_w:
        _hrow(src, src_w, new_w, x0, ax, src_c, fsrc, dst)
    else:
        _hrow_bytes(src, new_w, x0, x1, ax, src_c, dst)


cdef void _fill(float* row, int n, float value) noexcept nogil:
    cdef int i
    for i in range(n):
        row[i] = value


cdef void _run(const unsigned char* img, long row_stride, int src_h, int src_w, float* out,
               int out_h, int out_w,
               int new_w, int new_h, int off_x, int off_y, const int* src_c,
               const float* mul, const float* add, const float* pad,
               int* x0, int* x1, float* ax, int* y0, int* y1, float* ay,
               float* buf_a, float* buf_b, float* fsrc, bint fill_pad) noexcept nogil:
    cdef int y, x, c, sy, key0 = -1, key1 = -1, ktmp
    cdef long plane = <long>out_h * out_w
    cdef float* r0 = buf_a
    cdef float* r1 = buf_b
    cdef float* tmp
    cdef float* orow
    cdef float* s0
    cdef float* s1
    cdef float b, m, k
    _coeffs(src_w, new_w, x0, x1, ax)
    _coeffs(src_h, new_h, y0, y1, ay)
    for x in range(new_w):  # columns -> element offsets within a row
        x0[x] = 3 * x0[x]
        x1[x] = 3 * x1[x]
    for y in range(out_h):
        sy = y - off_y
        if sy < 0 or sy >= new_h:
            if not fill_pad:
                continue
            for c in range(3):
                _fill(out + c * plane + <long>y * out_w, out_w, pad[c])
            continue
        # Step 1: make sure the two source rows are in the cache (reuse, swap or compute).
        if key0 != y0[sy] and key1 == y0[sy]:
            tmp = r0; r0 = r1; r1 = tmp
            ktmp = key0; key0 = key1; key1 = ktmp
        if key0 != y0[sy]:
            _row(img + y0[sy] * row_stride, src_w, new_w, x0, x1, ax, src_c, fsrc, r0)
            key0 = y0[sy]
        if key1 != y1[sy]:
            _row(img + y1[sy] * row_stride, src_w, new_w, x0, x1, ax, src_c, fsrc, r1)
            key1 = y1[sy]
        # Step 2: vertical blend, normalise, write the three planes (padding left and right).
        b = ay[sy]
        for c in range(3):
            orow = out + c * plane + <long>y * out_w
            if fill_pad:
                _fill(orow, off_x, pad[c])
                _fill(orow + off_x + new_w, out_w - off_x - new_w, pad[c])
            orow = orow + off_x
            s0 = r0 + c * new_w
            s1 = r1 + c * new_w
            m = mul[c]
            k = add[c]
            for x in range(new_w):
                orow[x] = (s0[x] + (s1[x] - s0[x]) * b) * m + k


def letterbox_into(const unsigned char[:, :, :] image, float[:, :, ::1] out,
                   int new_w, int new_h, int off_x, int off_y, bint swap_rb,
                   double pad_value, tuple mean, tuple std, bint fill_pad=True):
    """Fill ``out`` (3, h, w) float32 from ``image`` (H, W, 3) uint8; geometry is pre-validated.

    Rows of ``image`` may be strided (a crop of a larger frame); pixels within a row must be
    packed (strides (any, 3, 1)).

    ``fill_pad=False`` leaves the padding as it is (it already holds the same padding).
    """
    cdef int src_h = image.shape[0], src_w = image.shape[1]
    if image.strides[1] != 3 or image.strides[2] != 1 or image.strides[0] < 3 * src_w:
        raise ValueError(f"image rows must hold packed BGR pixels, got strides {image.strides}")
    cdef int out_h = out.shape[1], out_w = out.shape[2]
    cdef int src_c[3]
    cdef float mul[3]
    cdef float add[3]
    cdef float pad[3]
    cdef int c
    for c in range(3):
        src_c[c] = 2 - c if swap_rb else c
        mul[c] = <float>(1.0 / <double>std[c])
        add[c] = <float>(-<double>mean[c] / <double>std[c])
        pad[c] = <float>((pad_value - <double>mean[c]) / <double>std[c])
    cdef int* ints = <int*>malloc(sizeof(int) * 2 * (new_w + new_h))
    cdef float* floats = <float*>malloc(sizeof(float) * (new_w + new_h + 6 * new_w + 3 * src_w + 3))
    if ints == NULL or floats == NULL:
        free(ints)
        free(floats)
        raise MemoryError()
    try:
        with nogil:
            _run(&image[0, 0, 0], image.strides[0], src_h, src_w, &out[0, 0, 0], out_h, out_w,
                 new_w, new_h, off_x, off_y, src_c, mul, add, pad,
                 ints, ints + new_w, floats, ints + 2 * new_w, ints + 2 * new_w + new_h,
                 floats + new_w, floats + new_w + new_h, floats + 4 * new_w + new_h,
                 floats + 7 * new_w + new_h, fill_pad)
    finally:
        free(ints)
        free(floats)

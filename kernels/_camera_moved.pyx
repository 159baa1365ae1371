# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
"""Camera-moved kernel (private): per-tile edge agreement of a live frame with a reference.

Inputs are validated and coerced by ``carbonedge.kernels.camera_moved``; this function trusts them
(tiles lie inside the images with a margin of ``max_shift_px``). The loops run without the GIL.

Per tile, the two gradient channels are interleaved (``gx, gy, gx, gy, ...``) into zero-padded,
aligned buffers, so a shift ``(dx, dy)`` is one dot product of two float rows, ``2 dx`` floats
apart. Register blocks of 2 vertical x up to 5 horizontal shifts keep 10 vector accumulators in
registers: each live load feeds two multiply-adds and each reference load five, so the loop is
bound by the multiply-add units, not by loads (float sums flushed to double every few rows). The
live window energies of all shifts are sliding box sums (double) of the window. On
x86-64 with GCC the same C code is also compiled for AVX2+FMA and picked at run time (no
``-march`` needed); GCC's vector extensions lower to SSE2 or NEON elsewhere.
"""

cdef extern from *:
    """
    #include <stdlib.h>
    #include <string.h>
    #include <math.h>

    typedef float cm_v4 __attribute__((vector_size(16)));                 /* portable: SSE2, NEON */
    typedef float cm_v4u __attribute__((vector_size(16), aligned(4)));
    typedef float cm_v8 __attribute__((vector_size(32)));                 /* AVX2 */
    typedef float cm_v8u __attribute__((vector_size(32), aligned(4)));    /* unaligned loads */
    /* one load of a live vector for its D multiply-adds (GCC would fold a load into each) */
    #if defined(__GNUC__) && defined(__x86_64__)
    #define CM_IN_REG(v) __asm__("" : "+x"(v))
    #else
    #define CM_IN_REG(v) ((void)0)
    #endif
    #define CM_ACC 96         /* doubles of accumulator scratch: D K lanes, at most 12 x 8 */

    /* The register block of D vertical x K horizontal shifts (VW floats a vector), float sums
       of fr rows at a time: for
       d < D, j < K and lanes q < VW, acc[(d K + j) VW + q] += sum over live rows Y < rows and
       vectors i < nv of ref[(Y - d) rs + VW i + q] * live[Y ls + 2 j + VW i + q]. Each live
       load feeds D multiply-adds and each reference load K; ref rows -1 and th are zero. */
    #define CM_BLOCK(SUF, VT, VTU, VW, D, K)                                                    \
    static inline __attribute__((always_inline)) void cm_block_##SUF##_##D##_##K(              \
            const float *ref, Py_ssize_t rs, const float *live, Py_ssize_t ls,               \
            Py_ssize_t rows, Py_ssize_t nv, Py_ssize_t fr, double *acc) {                     \
        for (Py_ssize_t y0 = 0; y0 < rows; y0 += fr) {                                         \
            const Py_ssize_t y1 = y0 + fr < rows ? y0 + fr : rows;                             \
            VT a[D][K];                                                                        \
            for (int d = 0; d < D; ++d)                                                        \
                for (int j = 0; j < K; ++j) a[d][j] = (VT){0};                                 \
            for (Py_ssize_t y = y0; y < y1; ++y) {                                             \
                const float *l = live + y * ls;                                                \
                for (Py_ssize_t i = 0; i < nv; ++i) {                                          \
                    VT rv[D];                                                                  \
                    for (int d = 0; d < D; ++d)                                                \
                        rv[d] = *(const VT *)(ref + (y - d) * rs + VW * i);                    \
                    for (int j = 0; j < K; ++j) {                                              \
                        VT lv = *(const VTU *)(l + 2 * j + VW * i);                            \
                        CM_IN_REG(lv);                                                         \
                        for (int d = 0; d < D; ++d) a[d][j] += rv[d] * lv;                     \
                    }                                                                          \
                }                                                                              \
            }                                                                                  \
            for (int d = 0; d < D; ++d)                                                        \
                for (int j = 0; j < K; ++j) {                                                  \
                    float f[VW];                                                               \
                    memcpy(f, &a[d][j], sizeof f);                                             \
                    for (int q = 0; q < VW; ++q) acc[(d * K + j) * VW + q] += (double)f[q];    \
                }                                                                              \
        }                                                                                      \
    }

    /* dots[d n + k0 + j], d < D, j < K: the shifts (k0 + j, d) relative to the live/dots
       pointers (0-based shifts); rows: tile rows. */
    #define CM_DOTS(SUF, VW)                                                                   \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 1) CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 2) \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 3) CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 4) \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 5) CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 6) \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 7) CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 8) \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 9) CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 10) \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 11)                                             \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 1, 12)                                             \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 2, 1) CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 2, 2) \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 2, 3) CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 2, 4) \
    CM_BLOCK(SUF, cm_v##VW, cm_v##VW##u, VW, 2, 5) \
    static inline __attribute__((always_inline)) void cm_dots_##SUF(                           \
            const float *ref, Py_ssize_t rs, const float *live, Py_ssize_t ls, Py_ssize_t rows, \
            int n, int D, int k0, int K, double *acc, double *dots) {                          \
        /* float sums of at most 3072 / VW products a vector lane (fr rows), then double */   \
        const Py_ssize_t nv = rs / VW, lr = rows + D - 1;                                      \
        const Py_ssize_t fr = rs > 192 ? (rs > 3072 ? 1 : 3072 / rs) : 16;                     \
        memset(acc, 0, sizeof(double) * VW * D * K);                                           \
        live += 2 * k0;                                                                        \
        switch (D * 16 + K) {                                                                  \
            case 17: cm_block_##SUF##_1_1(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 18: cm_block_##SUF##_1_2(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 19: cm_block_##SUF##_1_3(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 20: cm_block_##SUF##_1_4(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 21: cm_block_##SUF##_1_5(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 22: cm_block_##SUF##_1_6(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 23: cm_block_##SUF##_1_7(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 24: cm_block_##SUF##_1_8(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 25: cm_block_##SUF##_1_9(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 26: cm_block_##SUF##_1_10(ref, rs, live, ls, lr, nv, fr, acc); break;             \
            case 27: cm_block_##SUF##_1_11(ref, rs, live, ls, lr, nv, fr, acc); break;             \
            case 28: cm_block_##SUF##_1_12(ref, rs, live, ls, lr, nv, fr, acc); break;             \
            case 33: cm_block_##SUF##_2_1(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 34: cm_block_##SUF##_2_2(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 35: cm_block_##SUF##_2_3(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            case 36: cm_block_##SUF##_2_4(ref, rs, live, ls, lr, nv, fr, acc); break;              \
            default: cm_block_##SUF##_2_5(ref, rs, live, ls, lr, nv, fr, acc); break;              \
        }                                                                                      \
        for (int d = 0; d < D; ++d)                                                            \
            for (int j = 0; j < K; ++j) {                                                      \
                double s = 0.0;                                                                \
                for (int q = 0; q < VW; ++q) s += acc[(d * K + j) * VW + q];                   \
                dots[d * n + k0 + j] = s;                                                      \
            }                                                                                  \
    }                                                                                          \
    /* All dot products of one tile: dots[dy n + dx], 0-based shifts, n = 2 r + 1: pairs of  \
       vertical shifts in blocks of up to 5 horizontal ones, an odd last one in blocks of 12. */ \
    static inline __attribute__((always_inline)) void cm_tile_dots_##SUF(                      \
            const float *ref, Py_ssize_t rs, const float *live, Py_ssize_t ls, Py_ssize_t rows, \
            int n, double *acc, double *dots) {                                                \
        for (int dy = 0; dy < n;) {                                                            \
            const int D = dy + 1 < n ? 2 : 1, kmax = D == 2 ? 5 : 12;                          \
            const int blocks = (n + kmax - 1) / kmax;                                          \
            for (int b = 0, k0 = 0; b < blocks; ++b) {                                         \
                const int K = (n - k0) / (blocks - b);  /* even split: 25 -> 5 x 5 */          \
                cm_dots_##SUF(ref, rs, live + dy * ls, ls, rows, n, D, k0, K, acc,             \
                              dots + dy * n);                                                  \
                k0 += K;                                                                       \
            }                                                                                  \
            dy += D;                                                                           \
        }                                                                                      \
    }

    CM_DOTS(x4, 4)

    static void cm_tile_dots_default(const float *ref, Py_ssize_t rs, const float *live,
                                     Py_ssize_t ls, Py_ssize_t rows, int n, double *acc,
                                     double *dots) {
        cm_tile_dots_x4(ref, rs, live, ls, rows, n, acc, dots);
    }

    #if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    #define CM_HAVE_AVX2 1
    #pragma GCC push_options
    #pragma GCC target("avx2,fma")
    CM_DOTS(x8, 8)
    static void cm_tile_dots_avx2(const float *ref, Py_ssize_t rs, const float *live,
                                  Py_ssize_t ls, Py_ssize_t rows, int n, double *acc,
                                  double *dots) {
        cm_tile_dots_x8(ref, rs, live, ls, rows, n, acc, dots);
    }
    #pragma GCC pop_options
    #endif

    static int cm_simd_allowed = 1;  /* 0: the portable path even where AVX2 is there (tests) */

    static int cm_use_avx2(void) {
    #ifdef CM_HAVE_AVX2
        __builtin_cpu_init();
        return cm_simd_allowed && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #else
        return 0;
    #endif
    }

    /* sum of v[i], i < m, in four independent chains (the compiler may not reassociate) */
    static inline double cm_sum4(const double *v, Py_ssize_t m) {
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        Py_ssize_t i = 0;
        for (; i + 4 <= m; i += 4) {
            s0 += v[i];
            s1 += v[i + 1];
            s2 += v[i + 2];
            s3 += v[i + 3];
        }
        for (; i < m; ++i) s0 += v[i];
        return (s0 + s1) + (s2 + s3);
    }

    /* squares of the floats f[i], i < m (a multiple of 4), summed in double, four chains */
    static inline double cm_sum_sq4(const float *f, Py_ssize_t m) {
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
        for (Py_ssize_t i = 0; i < m; i += 4) {
            s0 += (double)f[i] * f[i];
            s1 += (double)f[i + 1] * f[i + 1];
            s2 += (double)f[i + 2] * f[i + 2];
            s3 += (double)f[i + 3] * f[i + 3];
        }
        return (s0 + s1) + (s2 + s3);
    }

    /* col[x] += sign (gx^2 + gy^2) of one interleaved live row, x < ww */
    static inline void cm_add_energy(double *col, const float *l, Py_ssize_t ww, double sign) {
        for (Py_ssize_t x = 0; x < ww; ++x)
            col[x] += sign * ((double)l[2 * x] * l[2 * x] + (double)l[2 * x + 1] * l[2 * x + 1]);
    }

    /* out[t, dy, dx] for all tiles; 0 on success, -1 when out of memory. */
    static int cm_tile_shift_scores(const float *rgx, const float *rgy, const float *lgx,
                                    const float *lgy, Py_ssize_t w, const int *tiles,
                                    Py_ssize_t n_tiles, int r, float *out) {
        const int n = 2 * r + 1;
        Py_ssize_t max_tw = 1, max_th = 1;
        for (Py_ssize_t t = 0; t < n_tiles; ++t) {
            const Py_ssize_t tw = tiles[4 * t + 2] - tiles[4 * t];
            const Py_ssize_t th = tiles[4 * t + 3] - tiles[4 * t + 1];
            if (tw > max_tw) max_tw = tw;
            if (th > max_th) max_th = th;
        }
        /* ref rows: 2 tw floats padded to a whole vector; live rows: 2 (tw + 2r) floats and the
           zeros that the padded reference columns read. */
        const Py_ssize_t rs_max = (2 * max_tw + 7) / 8 * 8;
        const Py_ssize_t ls_max = (rs_max + 2 * (n - 1) + 7) / 8 * 8;
        const size_t ref_n = (size_t)(rs_max * (max_th + 2));
        const size_t live_n = (size_t)(ls_max * (max_th + 2 * r));
        const size_t energy_n = (size_t)(max_tw + 2 * r + 4 + n * n);
        char *mem = (char *)malloc(sizeof(float) * (ref_n + live_n) + 64
                                   + sizeof(double) * (energy_n + CM_ACC + (size_t)n * n));
        if (mem == NULL) return -1;
        float *const ref_mem = (float *)(((size_t)mem + 31) / 32 * 32);
        float *live = ref_mem + ref_n;
        double *energy = (double *)(((size_t)(live + live_n) + 31) / 32 * 32);
        double *acc = energy + energy_n, *dots = acc + CM_ACC;
        const int avx2 = cm_use_avx2();

        for (Py_ssize_t t = 0; t < n_tiles; ++t) {
            const Py_ssize_t x0 = tiles[4 * t], y0 = tiles[4 * t + 1];
            const Py_ssize_t tw = tiles[4 * t + 2] - x0, th = tiles[4 * t + 3] - y0;
            const Py_ssize_t rs = (2 * tw + 7) / 8 * 8, ls = (rs + 2 * (n - 1) + 7) / 8 * 8;
            const Py_ssize_t ww = tw + 2 * r, wh = th + 2 * r;
            float *const ref = ref_mem + rs;  /* rows -1 and th: zeros */
            memset(ref - rs, 0, sizeof(float) * rs);
            memset(ref + th * rs, 0, sizeof(float) * rs);
            for (Py_ssize_t y = 0; y < th; ++y) {
                const float *gx = rgx + (y0 + y) * w + x0, *gy = rgy + (y0 + y) * w + x0;
                float *dst = ref + y * rs;
                for (Py_ssize_t x = 0; x < tw; ++x) {
                    dst[2 * x] = gx[x];
                    dst[2 * x + 1] = gy[x];
                }
                for (Py_ssize_t x = 2 * tw; x < rs; ++x) dst[x] = 0.0f;
            }
            const double ref_e = cm_sum_sq4(ref, th * rs);
            for (Py_ssize_t y = 0; y < wh; ++y) {
                const float *gx = lgx + (y0 - r + y) * w + x0 - r;
                const float *gy = lgy + (y0 - r + y) * w + x0 - r;
                float *dst = live + y * ls;
                for (Py_ssize_t x = 0; x < ww; ++x) {
                    dst[2 * x] = gx[x];
                    dst[2 * x + 1] = gy[x];
                }
                for (Py_ssize_t x = 2 * ww; x < ls; ++x) dst[x] = 0.0f;
            }
            /* live window energies of every shift, sliding box sums: col[x] sums the th rows
               from dy down; live_e[dy n + dx] the tw columns of col from dx on. */
            double *col = energy, *live_e = energy + ww;
            memset(col, 0, sizeof(double) * ww);
            for (Py_ssize_t y = 0; y < th; ++y) cm_add_energy(col, live + y * ls, ww, 1.0);
            for (int dy = 0; dy < n; ++dy) {
                double e = cm_sum4(col, tw);
                live_e[dy * n] = e;
                for (int dx = 1; dx < n; ++dx) {
                    e += col[dx + tw - 1] - col[dx - 1];
                    live_e[dy * n + dx] = e;
                }
                if (dy + 1 < n) {
                    cm_add_energy(col, live + (dy + th) * ls, ww, 1.0);
                    cm_add_energy(col, live + dy * ls, ww, -1.0);
                }
            }
    #ifdef CM_HAVE_AVX2
            if (avx2) cm_tile_dots_avx2(ref, rs, live, ls, th, n, acc, dots);
            else cm_tile_dots_default(ref, rs, live, ls, th, n, acc, dots);
    #else
            (void)avx2;
            cm_tile_dots_default(ref, rs, live, ls, th, n, acc, dots);
    #endif
            float *o = out + t * n * n;
            for (int dy = 0; dy < n; ++dy) {
                for (int dx = 0; dx < n; ++dx) {
                    const double le = live_e[dy * n + dx];
                    const double den = le > 0.0 ? sqrt(ref_e * le) : 0.0;
                    o[dy * n + dx] = den > 0.0 ? (float)(dots[dy * n + dx] / den) : 0.0f;
                }
            }
        }
        free(mem);
        return 0;
    }
    """
    int cm_tile_shift_scores(const float* rgx, const float* rgy, const float* lgx,
                             const float* lgy, Py_ssize_t w, const int* tiles,
                             Py_ssize_t n_tiles, int r, float* out) noexcept nogil
    int cm_simd_allowed
    int cm_use_avx2() noexcept nogil


def simd_path(object allow=None):
    """The name of the dot-product path in use (``"avx2"`` or ``"portable"``); ``allow=False``
    forces the portable path and ``True`` restores run-time dispatch (for parity tests)."""
    global cm_simd_allowed
    if allow is not None:
        cm_simd_allowed = 1 if allow else 0
    return "avx2" if cm_use_avx2() else "portable"


def tile_shift_scores(const float[:, ::1] ref_gx, const float[:, ::1] ref_gy,
                      const float[:, ::1] live_gx, const float[:, ::1] live_gy,
                      const int[:, ::1] tiles_xyxy, int max_shift_px, float[:, :, ::1] out):
    """``out[t, dy + R, dx + R]``: cosine similarity of the reference gradients in tile ``t`` and
    the live gradients at the same pixels shifted by ``(dx, dy)``; 0 when either has no energy.

    Dot products accumulate in float over a few hundred products a vector lane (384 with AVX2 for
    tiles up to 1536 px wide), then in double; energies are double. ``out`` must be (T, 2R+1, 2R+1) and is written in full.
    """
    cdef Py_ssize_t n_tiles = tiles_xyxy.shape[0], w = live_gx.shape[1]
    cdef int status
    if n_tiles == 0:
        return
    with nogil:
        status = cm_tile_shift_scores(&ref_gx[0, 0], &ref_gy[0, 0], &live_gx[0, 0],
                                      &live_gy[0, 0], w, &tiles_xyxy[0, 0], n_tiles,
                                      max_shift_px, &out[0, 0, 0])
    if status != 0:
        raise MemoryError("tile_shift_scores: cannot allocate the tile buffers")

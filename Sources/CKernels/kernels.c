// Quantized-weight GEMM for a few activation rows. Each weight block (32 values) is decoded to
// floats once and multiplied into every activation row: the weights are read once per call, in
// their compact form, which is what makes small batches fast. AVX2+FMA when the CPU has them
// (checked at run time), plain C otherwise.
#include "CKernels.h"
#include <string.h>

#define MAX_ROWS 64

static inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        if (mant == 0) { bits = sign; }
        else {  // subnormal: normalize
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) { mant <<= 1; exp--; }
            mant &= 0x3FF;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int block_bytes(int type) {
    switch (type) {
    case AB_Q4_0: return 18;
    case AB_Q4_1: return 20;
    case AB_Q8_0: return 34;
    default: return -1;
    }
}

/// Decodes one block into 32 floats: values = d * q (+ min for Q4_1).
static inline void decode_block(int type, const uint8_t *b, float *out) {
    uint16_t dh, mh;
    memcpy(&dh, b, 2);
    float d = half_to_float(dh);
    if (type == AB_Q8_0) {
        const int8_t *q = (const int8_t *)(b + 2);
        for (int j = 0; j < 32; j++) out[j] = d * (float)q[j];
    } else if (type == AB_Q4_0) {
        const uint8_t *q = b + 2;
        for (int j = 0; j < 16; j++) {
            out[j] = d * (float)((int)(q[j] & 0xF) - 8);
            out[j + 16] = d * (float)((int)(q[j] >> 4) - 8);
        }
    } else {
        memcpy(&mh, b + 2, 2);
        float m = half_to_float(mh);
        const uint8_t *q = b + 4;
        for (int j = 0; j < 16; j++) {
            out[j] = d * (float)(q[j] & 0xF) + m;
            out[j + 16] = d * (float)(q[j] >> 4) + m;
        }
    }
}

static void gemm_generic(int type, const uint8_t *w, int k_dim, int r_begin, int r_end,
                         const float *x, int m_rows, float *y, int ldy, int accumulate) {
    int bb = block_bytes(type), nb = k_dim / 32;
    float wf[32];
    for (int r = r_begin; r < r_end; r++) {
        float acc[MAX_ROWS] = {0};
        const uint8_t *row = w + (size_t)r * nb * bb;
        for (int b = 0; b < nb; b++) {
            decode_block(type, row + (size_t)b * bb, wf);
            for (int m = 0; m < m_rows; m++) {
                const float *xm = x + (size_t)m * k_dim + b * 32;
                float s = 0;
                for (int j = 0; j < 32; j++) s += wf[j] * xm[j];
                acc[m] += s;
            }
        }
        for (int m = 0; m < m_rows; m++) {
            float *o = y + (size_t)m * ldy + r;
            *o = accumulate ? *o + acc[m] : acc[m];
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2,fma,f16c")))
static inline float hsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
    return _mm_cvtss_f32(lo);
}

/// The 32 values of a block as four vectors of 8 floats.
__attribute__((target("avx2,fma,f16c")))
static inline void decode_avx(int type, const uint8_t *b, __m256 v[4]) {
    uint16_t dh;
    memcpy(&dh, b, 2);
    __m256 d = _mm256_set1_ps(_cvtsh_ss(dh));
    if (type == AB_Q8_0) {
        __m128i q0 = _mm_loadu_si128((const __m128i *)(b + 2)), q1 = _mm_loadu_si128((const __m128i *)(b + 18));
        v[0] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q0)));
        v[1] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q0, 8))));
        v[2] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q1)));
        v[3] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q1, 8))));
        return;
    }
    const uint8_t *qs = b + (type == AB_Q4_1 ? 4 : 2);
    __m128i q = _mm_loadu_si128((const __m128i *)qs);
    __m128i mask = _mm_set1_epi8(0x0F);
    __m128i lo = _mm_and_si128(q, mask), hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
    __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    __m256 f2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    __m256 f3 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
    if (type == AB_Q4_1) {
        uint16_t mh;
        memcpy(&mh, b + 2, 2);
        __m256 m = _mm256_set1_ps(_cvtsh_ss(mh));
        v[0] = _mm256_fmadd_ps(d, f0, m);
        v[1] = _mm256_fmadd_ps(d, f1, m);
        v[2] = _mm256_fmadd_ps(d, f2, m);
        v[3] = _mm256_fmadd_ps(d, f3, m);
    } else {
        __m256 eight = _mm256_set1_ps(8.0f);
        v[0] = _mm256_mul_ps(d, _mm256_sub_ps(f0, eight));
        v[1] = _mm256_mul_ps(d, _mm256_sub_ps(f1, eight));
        v[2] = _mm256_mul_ps(d, _mm256_sub_ps(f2, eight));
        v[3] = _mm256_mul_ps(d, _mm256_sub_ps(f3, eight));
    }
}

/// One activation row (decode at batch 1): four independent accumulators, so the FMAs of a
/// block do not wait on each other's latency.
__attribute__((target("avx2,fma,f16c")))
static void gemv_avx2(int type, const uint8_t *w, int k_dim, int r_begin, int r_end,
                      const float *x, float *y, int accumulate) {
    int bb = block_bytes(type), nb = k_dim / 32;
    for (int r = r_begin; r < r_end; r++) {
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        const uint8_t *row = w + (size_t)r * nb * bb;
        for (int b = 0; b < nb; b++) {
            __m256 v[4];
            decode_avx(type, row + (size_t)b * bb, v);
            const float *xb = x + b * 32;
            a0 = _mm256_fmadd_ps(v[0], _mm256_loadu_ps(xb), a0);
            a1 = _mm256_fmadd_ps(v[1], _mm256_loadu_ps(xb + 8), a1);
            a2 = _mm256_fmadd_ps(v[2], _mm256_loadu_ps(xb + 16), a2);
            a3 = _mm256_fmadd_ps(v[3], _mm256_loadu_ps(xb + 24), a3);
        }
        float s = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        y[r] = accumulate ? y[r] + s : s;
    }
}

/// Several activation rows: two weight rows are decoded into a float buffer (in L1), then each
/// group of four activation rows is multiplied by both with eight register accumulators, so a
/// decoded weight serves every activation row and each load feeds more than one FMA.
__attribute__((target("avx2,fma,f16c")))
static void gemm_tiled_avx2(int type, const uint8_t *w, int k_dim, int r_begin, int r_end,
                            const float *x, int m_rows, float *y, int ldy, int accumulate) {
    int bb = block_bytes(type), nb = k_dim / 32;
    float buf[2][8192] __attribute__((aligned(32)));
    for (int r = r_begin; r < r_end; r += 2) {
        int pair = r + 1 < r_end ? 2 : 1;
        for (int p = 0; p < pair; p++) {
            const uint8_t *row = w + (size_t)(r + p) * nb * bb;
            for (int b = 0; b < nb; b++) {
                __m256 v[4];
                decode_avx(type, row + (size_t)b * bb, v);
                for (int i = 0; i < 4; i++) _mm256_store_ps(&buf[p][b * 32 + 8 * i], v[i]);
            }
        }
        if (pair == 1) memset(buf[1], 0, sizeof(float) * k_dim);
        for (int m0 = 0; m0 < m_rows; m0 += 4) {
            int mn = m_rows - m0 < 4 ? m_rows - m0 : 4;
            const float *xr[4];
            for (int i = 0; i < 4; i++) xr[i] = x + (size_t)(m0 + (i < mn ? i : 0)) * k_dim;
            __m256 a00 = _mm256_setzero_ps(), a01 = _mm256_setzero_ps(), a02 = _mm256_setzero_ps(), a03 = _mm256_setzero_ps();
            __m256 a10 = _mm256_setzero_ps(), a11 = _mm256_setzero_ps(), a12 = _mm256_setzero_ps(), a13 = _mm256_setzero_ps();
            for (int k = 0; k < k_dim; k += 8) {
                __m256 w0 = _mm256_load_ps(&buf[0][k]), w1 = _mm256_load_ps(&buf[1][k]);
                __m256 x0 = _mm256_loadu_ps(xr[0] + k), x1 = _mm256_loadu_ps(xr[1] + k);
                __m256 x2 = _mm256_loadu_ps(xr[2] + k), x3 = _mm256_loadu_ps(xr[3] + k);
                a00 = _mm256_fmadd_ps(w0, x0, a00); a01 = _mm256_fmadd_ps(w0, x1, a01);
                a02 = _mm256_fmadd_ps(w0, x2, a02); a03 = _mm256_fmadd_ps(w0, x3, a03);
                a10 = _mm256_fmadd_ps(w1, x0, a10); a11 = _mm256_fmadd_ps(w1, x1, a11);
                a12 = _mm256_fmadd_ps(w1, x2, a12); a13 = _mm256_fmadd_ps(w1, x3, a13);
            }
            __m256 acc[2][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}};
            for (int p = 0; p < pair; p++) {
                for (int i = 0; i < mn; i++) {
                    float s = hsum(acc[p][i]);
                    float *o = y + (size_t)(m0 + i) * ldy + r + p;
                    *o = accumulate ? *o + s : s;
                }
            }
        }
    }
}

__attribute__((target("avx2,fma,f16c")))
static void gemm_avx2(int type, const uint8_t *w, int k_dim, int r_begin, int r_end,
                      const float *x, int m_rows, float *y, int ldy, int accumulate) {
    int bb = block_bytes(type), nb = k_dim / 32;
    if (m_rows == 1) { gemv_avx2(type, w, k_dim, r_begin, r_end, x, y, accumulate); return; }
    if (k_dim <= 8192) { gemm_tiled_avx2(type, w, k_dim, r_begin, r_end, x, m_rows, y, ldy, accumulate); return; }
    for (int r = r_begin; r < r_end; r++) {
        __m256 acc[MAX_ROWS];
        for (int m = 0; m < m_rows; m++) acc[m] = _mm256_setzero_ps();
        const uint8_t *row = w + (size_t)r * nb * bb;
        for (int b = 0; b < nb; b++) {
            __m256 v[4];
            decode_avx(type, row + (size_t)b * bb, v);
            for (int m = 0; m < m_rows; m++) {
                const float *xm = x + (size_t)m * k_dim + b * 32;
                __m256 a = acc[m];
                a = _mm256_fmadd_ps(v[0], _mm256_loadu_ps(xm), a);
                a = _mm256_fmadd_ps(v[1], _mm256_loadu_ps(xm + 8), a);
                a = _mm256_fmadd_ps(v[2], _mm256_loadu_ps(xm + 16), a);
                a = _mm256_fmadd_ps(v[3], _mm256_loadu_ps(xm + 24), a);
                acc[m] = a;
            }
        }
        for (int m = 0; m < m_rows; m++) {
            float s = hsum(acc[m]);
            float *o = y + (size_t)m * ldy + r;
            *o = accumulate ? *o + s : s;
        }
    }
}
#endif

int ab_quant_gemm(int type, const void *w, int k_dim, int r_begin, int r_end,
                  const float *x, int m_rows, float *y, int ldy, int accumulate) {
    if (block_bytes(type) < 0 || k_dim % 32 != 0 || m_rows < 1) return -1;
    // Rows beyond MAX_ROWS go in slices of it (the caller keeps batches small anyway).
    for (int m0 = 0; m0 < m_rows; m0 += MAX_ROWS) {
        int n = m_rows - m0 < MAX_ROWS ? m_rows - m0 : MAX_ROWS;
        const float *xs = x + (size_t)m0 * k_dim;
        float *ys = y + (size_t)m0 * ldy;
#if defined(__x86_64__)
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
            gemm_avx2(type, (const uint8_t *)w, k_dim, r_begin, r_end, xs, n, ys, ldy, accumulate);
            continue;
        }
#endif
        gemm_generic(type, (const uint8_t *)w, k_dim, r_begin, r_end, xs, n, ys, ldy, accumulate);
    }
    return 0;
}

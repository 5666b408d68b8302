// Attention of one query position over a sequence's paged KV cache, for decodes and short
// chunks: the query heads that share a KV head (GQA) read each key and value row once, scores
// are exponentiated eight at a time, and the rows are read in place in their blocks. AVX2+FMA
// when the CPU has them (checked at run time), plain C otherwise.
#include "CKernels.h"
#include <math.h>

#if defined(__x86_64__)
#include <immintrin.h>

/// e^x for eight floats: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial (Taylor
/// coefficients), 2^n through the exponent bits. Relative error under 2e-7 on [-87, 88]; inputs
/// below -87 (softmax scores far under the maximum) give 0.
__attribute__((target("avx2,fma")))
static inline __m256 exp8(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-87.0f), hi = _mm256_set1_ps(88.0f);
    __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    __m256 v = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_andnot_ps(under, v);
}

__attribute__((target("avx2,fma")))
static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static void attend_avx2(const float *q, int q_stride, int n_q, int d, const float *k_base, const float *v_base,
                        const int32_t *block_ids, long block_stride, int block_size, int visible, float scale,
                        float *scores, float *out, int out_stride) {
    // Scores: each key row is read once for all the query heads.
    for (int j = 0; j < visible; j++) {
        const float *k = k_base + (long)block_ids[j / block_size] * block_stride + (long)(j % block_size) * d;
        for (int h = 0; h < n_q; h++) {
            const float *qh = q + (long)h * q_stride;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            int i = 0;
            for (; i + 16 <= d; i += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i), _mm256_loadu_ps(k + i), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i + 8), _mm256_loadu_ps(k + i + 8), a1);
            }
            for (; i < d; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + i), _mm256_loadu_ps(k + i), a0);
            scores[(long)h * visible + j] = hsum8(_mm256_add_ps(a0, a1)) * scale;
        }
    }
    // Softmax per head; the normalisation is folded into the output scale.
    float inv[64];
    for (int h = 0; h < n_q; h++) {
        float *s = scores + (long)h * visible;
        float m = -INFINITY;
        for (int j = 0; j < visible; j++) m = s[j] > m ? s[j] : m;
        __m256 mv = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
        int j = 0;
        for (; j + 8 <= visible; j += 8) {
            __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
            _mm256_storeu_ps(s + j, e);
            acc = _mm256_add_ps(acc, e);
        }
        float sum = hsum8(acc);
        for (; j < visible; j++) { s[j] = expf(s[j] - m); sum += s[j]; }
        inv[h] = 1.0f / sum;
    }
    // Output: each value row is read once for all the query heads.
    for (int h = 0; h < n_q; h++) {
        float *o = out + (long)h * out_stride;
        for (int i = 0; i < d; i++) o[i] = 0;
    }
    for (int j = 0; j < visible; j++) {
        const float *v = v_base + (long)block_ids[j / block_size] * block_stride + (long)(j % block_size) * d;
        for (int h = 0; h < n_q; h++) {
            __m256 p = _mm256_set1_ps(scores[(long)h * visible + j]);
            float *o = out + (long)h * out_stride;
            for (int i = 0; i < d; i += 8) _mm256_storeu_ps(o + i, _mm256_fmadd_ps(p, _mm256_loadu_ps(v + i), _mm256_loadu_ps(o + i)));
        }
    }
    for (int h = 0; h < n_q; h++) {
        float *o = out + (long)h * out_stride;
        __m256 f = _mm256_set1_ps(inv[h]);
        for (int i = 0; i < d; i += 8) _mm256_storeu_ps(o + i, _mm256_mul_ps(f, _mm256_loadu_ps(o + i)));
    }
}
#endif

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void silu_mul_avx2(float *gate, const float *up, long n) {
    long i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}
#endif

void ab_silu_mul(float *gate, const float *up, long n) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) { silu_mul_avx2(gate, up, n); return; }
#endif
    for (long i = 0; i < n; i++) gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

static void attend_generic(const float *q, int q_stride, int n_q, int d, const float *k_base, const float *v_base,
                           const int32_t *block_ids, long block_stride, int block_size, int visible, float scale,
                           float *scores, float *out, int out_stride) {
    for (int h = 0; h < n_q; h++) {
        const float *qh = q + (long)h * q_stride;
        float *s = scores + (long)h * visible, *o = out + (long)h * out_stride;
        float m = -INFINITY, sum = 0;
        for (int j = 0; j < visible; j++) {
            const float *k = k_base + (long)block_ids[j / block_size] * block_stride + (long)(j % block_size) * d;
            float x = 0;
            for (int i = 0; i < d; i++) x += qh[i] * k[i];
            s[j] = x * scale;
            m = s[j] > m ? s[j] : m;
        }
        for (int j = 0; j < visible; j++) { s[j] = expf(s[j] - m); sum += s[j]; }
        for (int i = 0; i < d; i++) o[i] = 0;
        for (int j = 0; j < visible; j++) {
            const float *v = v_base + (long)block_ids[j / block_size] * block_stride + (long)(j % block_size) * d;
            for (int i = 0; i < d; i++) o[i] += s[j] * v[i];
        }
        for (int i = 0; i < d; i++) o[i] /= sum;
    }
}

int ab_attend_paged(const float *q, int q_stride, int n_q, int head_dim, const float *k_base, const float *v_base,
                    const int32_t *block_ids, long block_stride, int block_size, int visible, float scale,
                    float *scores, float *out, int out_stride) {
    if (n_q < 1 || n_q > 64 || head_dim < 1 || block_size < 1 || visible < 1) return -1;
#if defined(__x86_64__)
    if (head_dim % 8 == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        attend_avx2(q, q_stride, n_q, head_dim, k_base, v_base, block_ids, block_stride, block_size, visible, scale, scores, out, out_stride);
        return 0;
    }
#endif
    attend_generic(q, q_stride, n_q, head_dim, k_base, v_base, block_ids, block_stride, block_size, visible, scale, scores, out, out_stride);
    return 0;
}

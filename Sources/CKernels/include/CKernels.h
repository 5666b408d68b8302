// Matrix kernels the CPU backend runs on ggml's quantized weights as they are stored, for
// iterations with few tokens (decode), where reading the weights is the whole cost.
#ifndef ACCELBENCH_CKERNELS_H
#define ACCELBENCH_CKERNELS_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// ggml block types the kernels read (ggml's numbering).
enum { AB_Q4_0 = 2, AB_Q4_1 = 3, AB_Q8_0 = 8 };

/// y[m * ldy + r] (+)= sum_k x[m * k_dim + k] * W[r][k] for m < m_rows and r in [r_begin, r_end).
/// W is `type` blocks of 32 values, row after row (k_dim / 32 blocks per row). Exact with respect
/// to the dequantized weights up to the order of the sums. Returns 0, or -1 for a type it does
/// not read or a k_dim not a multiple of 32.
int ab_quant_gemm(int type, const void *w, int k_dim, int r_begin, int r_end,
                  const float *x, int m_rows, float *y, int ldy, int accumulate);

/// Attention of one query position: the n_q query heads (rows of q, q_stride apart) that share
/// one KV head, over the sequence's first `visible` cached positions. Position j's key row is at
/// k_base + block_ids[j / block_size] * block_stride + (j % block_size) * head_dim (values alike
/// from v_base). out[h] (rows out_stride apart) = softmax(scale · q[h]·Kᵀ) · V. `scores` has room
/// for n_q * visible floats. Returns 0, or -1 for arguments out of range (n_q above 64).
int ab_attend_paged(const float *q, int q_stride, int n_q, int head_dim, const float *k_base, const float *v_base,
                    const int32_t *block_ids, long block_stride, int block_size, int visible, float scale,
                    float *scores, float *out, int out_stride);

/// gate[i] = SiLU(gate[i]) · up[i] = gate[i] / (1 + e^−gate[i]) · up[i], the SwiGLU product,
/// eight at a time with attention.c's exp (relative error under 2e-7) where AVX2 exists.
void ab_silu_mul(float *gate, const float *up, long n);

/// A fixed pool of worker threads (pool.c). `ab_pool_run` runs task(context, t, threads) for
/// every t in [0, threads): t = 0 on the calling thread, the others on the workers, and returns
/// when all have returned. Workers spin `spin_limit` iterations after each task before
/// they sleep. While another caller holds the workers, the caller runs every share itself (the
/// same shares, so the same results).
typedef struct ab_pool ab_pool;
typedef void (*ab_pool_task)(void *context, int thread, int threads);
ab_pool *ab_pool_create(int threads, long spin_limit);
int ab_pool_threads(const ab_pool *pool);
void ab_pool_run(ab_pool *pool, ab_pool_task task, void *context);
void ab_pool_destroy(ab_pool *pool);

#ifdef __cplusplus
}
#endif
#endif

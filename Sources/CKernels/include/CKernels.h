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

#ifdef __cplusplus
}
#endif
#endif

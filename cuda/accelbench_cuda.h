/*
 * accelbench's CUDA backend: a Llama-architecture forward pass over a paged KV cache in device
 * memory, as a shared library with a plain C ABI. The Swift engine loads it with dlopen
 * (Sources/EngineCUDA/CUDALibrary.swift declares the same functions); the GPU verification
 * harness (scripts/gpu/harness.py) calls it through ctypes. No CUDA type crosses this boundary.
 *
 * Conventions: every function that can fail returns 0 on success and a nonzero status
 * otherwise, with the reason in ab_cuda_last_error(ctx) (or in `err` where there is no context
 * yet). Nothing here aborts the process on bad arguments.
 *
 * Layouts (the engine's own, docs/engine-cuda.md):
 * - weights are row-major [outputs x inputs] fp32 on upload, kept as bf16; Q and K rows are in
 *   the GGUF order (RoPE rotates adjacent pairs), as Sources/Models hands them over;
 * - the KV cache is one bf16 pool per layer, [block][slot][kv head][head dim], indexed by the
 *   engine's block ids.
 */
#ifndef ACCELBENCH_CUDA_H
#define ACCELBENCH_CUDA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a signature or a layout below changes; the loader refuses a mismatch. */
#define AB_CUDA_ABI_VERSION 1

typedef struct ab_cuda_context ab_cuda_context;

/* Tensors of ab_cuda_set_weight. Per-layer ones take a layer index; the rest take -1. */
enum {
    AB_CUDA_TOKEN_EMBEDDING = 0, /* [vocab x hidden] */
    AB_CUDA_OUTPUT_NORM = 1,     /* [hidden] */
    AB_CUDA_OUTPUT = 2,          /* [vocab x hidden]; absent when the embeddings are tied */
    AB_CUDA_ATTN_NORM = 3,       /* [hidden] */
    AB_CUDA_WQ = 4,              /* [heads*head_dim x hidden] */
    AB_CUDA_WK = 5,              /* [kv_heads*head_dim x hidden] */
    AB_CUDA_WV = 6,              /* [kv_heads*head_dim x hidden] */
    AB_CUDA_WO = 7,              /* [hidden x heads*head_dim] */
    AB_CUDA_FFN_NORM = 8,        /* [hidden] */
    AB_CUDA_WGATE = 9,           /* [intermediate x hidden] */
    AB_CUDA_WUP = 10,            /* [intermediate x hidden] */
    AB_CUDA_WDOWN = 11           /* [hidden x intermediate] */
};

/* Options of ab_cuda_set_option. */
enum {
    /* 1: replay decode-only iterations from CUDA graphs captured per (batch, context bucket); 0: launch every kernel. */
    AB_CUDA_OPTION_GRAPHS = 0
};

int ab_cuda_abi_version(void);

/*
 * A context on CUDA device `device` for a model of this shape:
 * shape = {layers, hidden, heads, kv_heads, head_dim, intermediate, vocab, rope_dim}.
 * Allocates the weights (uninitialised: set every tensor, or call ab_cuda_synthetic_weights).
 * Returns NULL with the reason in err (err_capacity bytes, NUL-terminated).
 */
ab_cuda_context *ab_cuda_create(const int32_t shape[8], double rope_base, float rms_epsilon, int32_t tied_embeddings,
                                int32_t device, char *err, int32_t err_capacity);
void ab_cuda_destroy(ab_cuda_context *ctx);
const char *ab_cuda_last_error(const ab_cuda_context *ctx);

/* Uploads one tensor from fp32 host memory (count must be the tensor's size); stored as bf16. */
int ab_cuda_set_weight(ab_cuda_context *ctx, int32_t tensor, int32_t layer, const float *values, int64_t count);
/* Seeded random weights at the model's shapes, made on the device: projections uniform with
 * variance 1/fan_in, norms 1 (the same scales as Models' synthetic weights, not the same values). */
int ab_cuda_synthetic_weights(ab_cuda_context *ctx, uint64_t seed);

/* Free and total device memory, bytes (cudaMemGetInfo). */
int ab_cuda_memory(ab_cuda_context *ctx, int64_t *free_bytes, int64_t *total_bytes);
/* The device's name and compute capability, "NAME (sm_XY)". */
int ab_cuda_device_name(ab_cuda_context *ctx, char *out, int32_t capacity);
/* Bytes one KV block takes over every layer (keys and values, bf16). */
int64_t ab_cuda_kv_bytes_per_block(const ab_cuda_context *ctx, int32_t block_size);
/* (Re)allocates the KV pool: num_blocks blocks of block_size tokens. */
int ab_cuda_alloc_kv(ab_cuda_context *ctx, int32_t num_blocks, int32_t block_size);
int ab_cuda_set_option(ab_cuda_context *ctx, int32_t option, int64_t value);

/*
 * One iteration: num_seqs sequences, each computing its tokens at positions
 * start .. start+n-1 (a prefill chunk, or one decode), attending causally to its cached
 * positions before them. Writes their keys and values into the cache.
 * - seq_info: 4 per sequence: start position, tokens n (>= 1), wants logits (0/1), blocks in its table;
 * - tokens: every sequence's n token ids, concatenated;
 * - block_tables: every sequence's block ids, concatenated (they must cover start+n positions);
 * - sampling: 3 per sequence: temperature (0: greedy), top-p (1: off), u in [0,1) (the draw);
 * - top_k: 1 per sequence (0: off);
 * - sampled: 1 per sequence: the token drawn from the last position's logits, or -1 where no
 *   logits were wanted;
 * - logits_out: NULL, or room for one row of `vocab` floats per sequence that wants logits;
 * - elapsed_s: the iteration's device time (CUDA events around uploads, kernels and download).
 */
int ab_cuda_step(ab_cuda_context *ctx, int32_t num_seqs, const int32_t *seq_info, const int32_t *tokens,
                 const int32_t *block_tables, const float *sampling, const int32_t *top_k, int32_t *sampled,
                 float *logits_out, double *elapsed_s);

/*
 * Kernel checks for the verification harness, on host buffers, no model needed.
 * Attention: queries q [tokens x heads x head_dim] fp32; caches [blocks x block_size x kv_heads x head_dim]
 * fp32 (rounded to bf16 on upload); per token its position (it attends to positions 0..pos of its
 * sequence) and sequence; per sequence the offset of its block table in block_tables.
 * out: [tokens x heads x head_dim] fp32.
 */
int ab_cuda_check_attention(int32_t tokens, int32_t heads, int32_t kv_heads, int32_t head_dim, int32_t num_blocks,
                            int32_t block_size, const float *q, const float *k_cache, const float *v_cache,
                            const int32_t *token_position, const int32_t *token_sequence, const int32_t *table_offset,
                            const int32_t *block_tables, int32_t block_table_entries, float *out, char *err,
                            int32_t err_capacity);
/* Sampling: rows x vocab logits, per row temperature, top-k, top-p and u; out: one id per row. */
int ab_cuda_check_sampling(int32_t rows, int32_t vocab, const float *logits, const float *temperature,
                           const int32_t *top_k, const float *top_p, const float *u, int32_t *out, char *err,
                           int32_t err_capacity);

#ifdef __cplusplus
}
#endif

#endif

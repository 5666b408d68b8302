// The forward pass's kernels. Activations between GEMMs are fp32 (the residual stream, GEMM
// outputs) or bf16 (GEMM inputs); weights and the KV cache are bf16; every reduction is fp32.
#pragma once

#include <cuda_bf16.h>
#include <stdint.h>

namespace ab {

typedef __nv_bfloat16 bf16;

// Keys per attention partition: long contexts are split over blocks, each writing a partial
// softmax that a second kernel combines (split-K "flash decoding"). 512: vLLM's partition size.
constexpr int kPartition = 512;
// Threads of the attention kernel: 4 warps, each walking every 4th key of the partition.
constexpr int kAttentionWarps = 4;
// Query heads of one KV head held in registers at once (larger GQA groups loop).
constexpr int kMaxGroup = 8;

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the total.
__device__ float block_sum(float v) {
    __shared__ float part[32];
    __shared__ float total;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) part[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (int)(blockDim.x >> 5) ? part[lane] : 0.f;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    return total;
}

// --- embedding, norms, activation -----------------------------------------------------------

__global__ void embed_kernel(const int32_t *tokens, const bf16 *table, float *x, int hidden) {
    int row = blockIdx.x;
    const bf16 *e = table + (int64_t)tokens[row] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) x[(int64_t)row * hidden + i] = __bfloat162float(e[i]);
}

// out[r] = x[src] / rms(x[src]) * w, src = rows ? rows[r] : r. Rows of `rows` pick the last
// token of each sequence that wants logits.
__global__ void rmsnorm_kernel(const float *x, const int32_t *rows, const float *w, bf16 *out, int hidden, float eps) {
    int r = blockIdx.x;
    int src = rows ? rows[r] : r;
    const float *xr = x + (int64_t)src * hidden;
    float s = 0.f;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) s += xr[i] * xr[i];
    float inv = rsqrtf(block_sum(s) / hidden + eps);
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) out[(int64_t)r * hidden + i] = __float2bfloat16(xr[i] * inv * w[i]);
}

// act = SiLU(gate) * up, from the fused [gate | up] GEMM output.
__global__ void silu_mul_kernel(const float *gate_up, bf16 *act, int intermediate, int64_t total) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        int64_t row = i / intermediate, col = i % intermediate;
        float g = gate_up[row * 2 * intermediate + col], u = gate_up[row * 2 * intermediate + intermediate + col];
        act[i] = __float2bfloat16(g / (1.f + __expf(-g)) * u);
    }
}

// --- RoPE and the cache write ---------------------------------------------------------------

struct TokenMeta {
    const int32_t *position;     // per token
    const int32_t *sequence;     // per token
    const int32_t *table_offset; // per sequence
    const int32_t *tables;       // block ids
};

// Rotates adjacent pairs of the first rope_dim dimensions of every Q and K head (angles in
// double: at position 10^5 a float angle is off by 10^-2 rad), then writes K and V into the
// cache at the token's slot. qkv rows: [q (heads*d) | k (kv_heads*d) | v (kv_heads*d)].
__global__ void rope_store_kernel(float *qkv, TokenMeta meta, const double *inv_freq, bf16 *k_cache, bf16 *v_cache,
                                  int heads, int kv_heads, int d, int rope_dim, int block_size) {
    int row = blockIdx.x;
    int pos = meta.position[row];
    int width = (heads + 2 * kv_heads) * d, kv = kv_heads * d;
    float *q = qkv + (int64_t)row * width, *k = q + heads * d, *v = k + kv;
    int pairs = rope_dim / 2;
    for (int i = threadIdx.x; i < (heads + kv_heads) * pairs; i += blockDim.x) {
        int head = i / pairs, p = i % pairs;
        double s, c;
        sincos((double)pos * inv_freq[p], &s, &c);
        float *h = q + head * d;  // K heads follow Q heads in the row
        float a = h[2 * p], b = h[2 * p + 1];
        h[2 * p] = a * (float)c - b * (float)s;
        h[2 * p + 1] = a * (float)s + b * (float)c;
    }
    __syncthreads();
    int seq = meta.sequence[row];
    int block = meta.tables[meta.table_offset[seq] + pos / block_size];
    int64_t slot = ((int64_t)block * block_size + pos % block_size) * kv;
    for (int i = threadIdx.x; i < kv; i += blockDim.x) {
        k_cache[slot + i] = __float2bfloat16(k[i]);
        v_cache[slot + i] = __float2bfloat16(v[i]);
    }
}

// --- attention ------------------------------------------------------------------------------

// Partial attention of one query token, the query heads of one KV head (up to kMaxGroup of
// them from `first_head`), over the keys of one partition: grid (tokens, kv_heads * groups,
// partitions). Writes the partition's running max, sum and unnormalised output per head.
template <int D>
__global__ void __launch_bounds__(kAttentionWarps * 32)
attention_partial_kernel(const float *q, int64_t q_stride, const bf16 *k_cache, const bf16 *v_cache, TokenMeta meta,
                         int heads, int kv_heads, int block_size, int max_partitions, float scale,
                         float *part_max, float *part_sum, float *part_out) {
    constexpr int E = D / 32;  // dimensions per lane
    const int row = blockIdx.x, partition = blockIdx.z;
    const int group = heads / kv_heads, groups_per_kv = (group + kMaxGroup - 1) / kMaxGroup;
    const int g = blockIdx.y / groups_per_kv, first = (blockIdx.y % groups_per_kv) * kMaxGroup;
    const int count = min(kMaxGroup, group - first);
    const int length = meta.position[row] + 1;
    const int begin = partition * kPartition, end = min(begin + kPartition, length);
    if (begin >= end) return;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int32_t *table = meta.tables + meta.table_offset[meta.sequence[row]];
    const int64_t kv = (int64_t)kv_heads * D;

    float qr[kMaxGroup][E], acc[kMaxGroup][E], m[kMaxGroup], l[kMaxGroup];
#pragma unroll
    for (int j = 0; j < kMaxGroup; j++) {
        m[j] = -INFINITY;
        l[j] = 0.f;
#pragma unroll
        for (int e = 0; e < E; e++) {
            acc[j][e] = 0.f;
            qr[j][e] = j < count ? q[row * q_stride + (int64_t)(g * group + first + j) * D + lane * E + e] * scale : 0.f;
        }
    }
    for (int p = begin + warp; p < end; p += kAttentionWarps) {
        int64_t base = ((int64_t)table[p / block_size] * block_size + p % block_size) * kv + (int64_t)g * D + lane * E;
        float kf[E], vf[E];
#pragma unroll
        for (int e = 0; e < E; e++) {
            kf[e] = __bfloat162float(k_cache[base + e]);
            vf[e] = __bfloat162float(v_cache[base + e]);
        }
#pragma unroll
        for (int j = 0; j < kMaxGroup; j++) {
            if (j >= count) break;
            float s = 0.f;
#pragma unroll
            for (int e = 0; e < E; e++) s += qr[j][e] * kf[e];
            s = warp_sum(s);
            float mn = fmaxf(m[j], s), corr = __expf(m[j] - mn), w = __expf(s - mn);
            l[j] = l[j] * corr + w;
#pragma unroll
            for (int e = 0; e < E; e++) acc[j][e] = acc[j][e] * corr + w * vf[e];
            m[j] = mn;
        }
    }
    // Merge the warps' running softmaxes.
    __shared__ float sm[kAttentionWarps][kMaxGroup], sl[kAttentionWarps][kMaxGroup];
    __shared__ float so[kAttentionWarps][kMaxGroup][D];
#pragma unroll
    for (int j = 0; j < kMaxGroup; j++) {
        if (lane == 0) { sm[warp][j] = m[j]; sl[warp][j] = l[j]; }
#pragma unroll
        for (int e = 0; e < E; e++) so[warp][j][lane * E + e] = acc[j][e];
    }
    __syncthreads();
    for (int i = threadIdx.x; i < count * D; i += blockDim.x) {
        int j = i / D, dim = i % D;
        float mx = -INFINITY;
        for (int w = 0; w < kAttentionWarps; w++) mx = fmaxf(mx, sm[w][j]);
        float sum = 0.f, out = 0.f;
        for (int w = 0; w < kAttentionWarps; w++) {
            if (sm[w][j] == -INFINITY) continue;  // a warp that saw no key
            float f = __expf(sm[w][j] - mx);
            sum += sl[w][j] * f;
            out += so[w][j][dim] * f;
        }
        int64_t slot = ((int64_t)row * heads + g * group + first + j) * max_partitions + partition;
        part_out[slot * D + dim] = out;
        if (dim == 0) { part_max[slot] = mx; part_sum[slot] = sum; }
    }
}

// Combines a token's partitions per head into its bf16 attention output: grid (tokens, heads),
// D threads.
__global__ void attention_combine_kernel(const int32_t *position, int heads, int d, int max_partitions,
                                         const float *part_max, const float *part_sum, const float *part_out, bf16 *out) {
    int row = blockIdx.x, head = blockIdx.y;
    int partitions = (position[row] + kPartition) / kPartition;  // ceil((pos + 1) / kPartition)
    int64_t slot = ((int64_t)row * heads + head) * max_partitions;
    float mx = -INFINITY;
    for (int p = 0; p < partitions; p++) mx = fmaxf(mx, part_max[slot + p]);
    for (int dim = threadIdx.x; dim < d; dim += blockDim.x) {
        float sum = 0.f, acc = 0.f;
        for (int p = 0; p < partitions; p++) {
            float f = __expf(part_max[slot + p] - mx);
            sum += part_sum[slot + p] * f;
            acc += part_out[(slot + p) * d + dim] * f;
        }
        out[((int64_t)row * heads + head) * d + dim] = __float2bfloat16(acc / sum);
    }
}

// --- sampling -------------------------------------------------------------------------------

// Orders floats as unsigned integers: a larger key is a larger logit.
__device__ __forceinline__ uint32_t order_key(float f) {
    uint32_t b = __float_as_uint(f);
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}

// Largest key t such that measure(t) >= target (measure decreasing in t), bit by bit from the
// top: 32 block reductions. measure(t) sums f(i) over the row's tokens with key >= t.
template <typename F>
__device__ uint32_t largest_key_reaching(const float *logits, int vocab, uint32_t floor_key, float target, bool strict, F f) {
    uint32_t t = 0;
    for (int bit = 31; bit >= 0; bit--) {
        uint32_t candidate = t | (1u << bit);
        float s = 0.f;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
            uint32_t k = order_key(logits[i]);
            if (k >= candidate && k >= floor_key) s += f(i);
        }
        s = block_sum(s);
        if (strict ? s > target : s >= target) t = candidate;
    }
    return t;
}

// One row per block. Greedy: the largest logit, lowest id among equals. Otherwise, as the CPU
// sampler: tokens in order of decreasing logit, top-k keeps the first k, top-p the shortest
// prefix whose probability reaches p, and u * (kept weight) picks the token where the
// cumulative weight passes it. Ties between exactly equal logits go to the lowest id.
__global__ void sample_kernel(const float *logits_all, int vocab, const float *temperature, const int32_t *top_k,
                              const float *top_p, const float *u, int32_t *out) {
    const int row = blockIdx.x;
    const float *logits = logits_all + (int64_t)row * vocab;
    __shared__ float best_value[32];
    __shared__ int best_index[32];
    // Argmax (lowest id among equals).
    float bv = -INFINITY;
    int bi = vocab;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (logits[i] > bv) { bv = logits[i]; bi = i; }
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, bv, o);
        int oi = __shfl_xor_sync(0xffffffffu, bi, o);
        if (ov > bv || (ov == bv && oi < bi)) { bv = ov; bi = oi; }
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    if (lane == 0) { best_value[warp] = bv; best_index[warp] = bi; }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < warps; w++)
            if (best_value[w] > best_value[0] || (best_value[w] == best_value[0] && best_index[w] < best_index[0])) {
                best_value[0] = best_value[w];
                best_index[0] = best_index[w];
            }
    }
    __syncthreads();
    const float top = best_value[0];
    const int argmax = best_index[0];
    const float temp = temperature[row];
    if (!(temp > 0.f)) {
        if (threadIdx.x == 0) out[row] = argmax;
        return;
    }
    auto weight = [&](int i) { return __expf((logits[i] - top) / temp); };
    auto one = [](int) { return 1.f; };
    uint32_t floor_key = 0;
    int k = top_k[row];
    if (k > 0 && k < vocab) floor_key = largest_key_reaching(logits, vocab, 0, (float)k, false, one);
    float total = 0.f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (order_key(logits[i]) >= floor_key) total += weight(i);
    total = block_sum(total);
    float p = top_p[row];
    if (p < 1.f) {
        floor_key = largest_key_reaching(logits, vocab, floor_key, p * total, false, weight);
        float kept = 0.f;
        for (int i = threadIdx.x; i < vocab; i += blockDim.x)
            if (order_key(logits[i]) >= floor_key) kept += weight(i);
        total = block_sum(kept);
    }
    uint32_t chosen = largest_key_reaching(logits, vocab, floor_key, u[row] * total, true, weight);
    if (chosen < floor_key) chosen = floor_key;
    // The lowest id with the chosen key (argmax if rounding left none).
    __shared__ int pick;
    if (threadIdx.x == 0) pick = vocab;
    __syncthreads();
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
        if (order_key(logits[i]) == chosen) atomicMin(&pick, i);
    __syncthreads();
    if (threadIdx.x == 0) out[row] = pick < vocab ? pick : argmax;
}

// --- synthetic weights ----------------------------------------------------------------------

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Uniform(-a, a) from a counter-based hash of (seed, tensor, index): the same values for the
// same seed, whatever the launch shape.
__global__ void synthetic_kernel(bf16 *w, int64_t count, float a, uint64_t seed, uint64_t tensor) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) {
        uint64_t h = mix64(seed ^ mix64(tensor * 0x100000001B3ull + (uint64_t)i));
        float unit = (float)(h >> 40) * (1.f / 16777216.f);  // [0, 1)
        w[i] = __float2bfloat16(a * (2.f * unit - 1.f));
    }
}

__global__ void fill_kernel(float *x, int64_t count, float value) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < count; i += (int64_t)gridDim.x * blockDim.x) x[i] = value;
}

}  // namespace ab

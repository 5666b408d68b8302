// accelbench's CUDA backend: the context (weights, KV pool, scratch, CUDA graphs) and the one
// step the engine calls per iteration. The ABI is in accelbench_cuda.h; the kernels in kernels.cuh.
#include "accelbench_cuda.h"
#include "kernels.cuh"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

using ab::bf16;

namespace {

struct Shape {
    int layers, hidden, heads, kv_heads, head_dim, intermediate, vocab, rope_dim;
    double rope_base;
    float eps;
    bool tied;
    int q() const { return heads * head_dim; }
    int kv() const { return kv_heads * head_dim; }
    int qkv() const { return q() + 2 * kv(); }
};

struct Layer {
    float *attn_norm = nullptr, *ffn_norm = nullptr;
    bf16 *wqkv = nullptr;  // [q | k | v] rows
    bf16 *wo = nullptr;
    bf16 *wgate_up = nullptr;  // [gate | up] rows
    bf16 *wdown = nullptr;
};

// Device buffers sized for the largest iteration so far; they only grow. Pointers into them
// are baked into captured graphs, so growing drops the graphs.
struct Scratch {
    int tokens = 0, sequences = 0, table_entries = 0, partitions = 0;
    float *x = nullptr, *qkv = nullptr, *gate_up = nullptr, *logits = nullptr;
    bf16 *xn = nullptr, *attn = nullptr, *act = nullptr, *last = nullptr;
    float *part_max = nullptr, *part_sum = nullptr, *part_out = nullptr;
    // Metadata, one int32 block on the device and its pinned host mirror, at fixed offsets:
    // tokens, positions, sequences [tokens]; table offsets, logit rows, top-k [sequences];
    // block tables [table entries]. Floats: temperature, top-p, u [sequences].
    int32_t *meta = nullptr, *host_meta = nullptr;
    float *fmeta = nullptr, *host_fmeta = nullptr;
    int32_t *sampled = nullptr, *host_sampled = nullptr;
    size_t meta_ints() const { return 3 * (size_t)tokens + 3 * (size_t)sequences + table_entries; }
};

struct GraphKey {
    int tokens, partitions;
    bool operator<(const GraphKey &o) const { return std::make_pair(tokens, partitions) < std::make_pair(o.tokens, o.partitions); }
};

// Graphs kept at most (one per decode batch size and context bucket). Our choice: a decode
// sweep to 256 sequences over a few context buckets stays under it.
constexpr size_t kMaxGraphs = 512;

}  // namespace

struct ab_cuda_context {
    Shape s{};
    int device = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    void *blas_workspace = nullptr;
    bf16 *embedding = nullptr, *output = nullptr;
    float *output_norm = nullptr;
    double *inv_freq = nullptr;
    std::vector<Layer> layers;
    bf16 *k_cache = nullptr, *v_cache = nullptr;
    int num_blocks = 0, block_size = 0;
    Scratch scratch;
    cudaEvent_t start = nullptr, stop = nullptr;
    bool graphs = true;
    std::map<GraphKey, cudaGraphExec_t> graph_cache;
    std::vector<void *> allocations;
    char error[512] = {0};
};

namespace {

constexpr size_t kBlasWorkspace = 32u << 20;  // fixed cuBLAS workspace: no allocation inside graph capture

void set_error(char *out, int capacity, const char *fmt, va_list args) {
    if (out && capacity > 0) vsnprintf(out, (size_t)capacity, fmt, args);
}

int fail(ab_cuda_context *c, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    set_error(c->error, sizeof c->error, fmt, args);
    va_end(args);
    return 1;
}

#define CU(call)                                                                                      \
    do {                                                                                              \
        cudaError_t e_ = (call);                                                                      \
        if (e_ != cudaSuccess) return fail(ctx, "%s: %s (%s)", #call, cudaGetErrorString(e_), cudaGetErrorName(e_)); \
    } while (0)

#define BLAS(call)                                                                                    \
    do {                                                                                              \
        cublasStatus_t b_ = (call);                                                                   \
        if (b_ != CUBLAS_STATUS_SUCCESS) return fail(ctx, "%s: cuBLAS status %d", #call, (int)b_);  \
    } while (0)

template <typename T>
int device_alloc(ab_cuda_context *ctx, T **p, size_t count) {
    CU(cudaMalloc((void **)p, std::max<size_t>(1, count) * sizeof(T)));
    ctx->allocations.push_back(*p);
    return 0;
}

void drop_graphs(ab_cuda_context *ctx) {
    for (auto &g : ctx->graph_cache) cudaGraphExecDestroy(g.second);
    ctx->graph_cache.clear();
}

void free_scratch(ab_cuda_context *ctx) {
    Scratch &s = ctx->scratch;
    void *device[] = {s.x, s.qkv, s.gate_up, s.logits, s.xn, s.attn, s.act, s.last, s.part_max, s.part_sum, s.part_out,
                      s.meta, s.fmeta, s.sampled};
    for (void *p : device) cudaFree(p);
    cudaFreeHost(s.host_meta);
    cudaFreeHost(s.host_fmeta);
    cudaFreeHost(s.host_sampled);
    s = Scratch{};
}

// Grows the scratch to hold an iteration of this size (dropping graphs if anything moved).
int reserve(ab_cuda_context *ctx, int tokens, int sequences, int table_entries, int partitions) {
    Scratch &s = ctx->scratch;
    if (tokens <= s.tokens && sequences <= s.sequences && table_entries <= s.table_entries && partitions <= s.partitions) return 0;
    CU(cudaStreamSynchronize(ctx->stream));
    drop_graphs(ctx);
    Scratch want;
    want.tokens = std::max(tokens, s.tokens * 3 / 2);
    want.sequences = std::max(sequences, s.sequences * 3 / 2);
    want.table_entries = std::max(table_entries, s.table_entries * 3 / 2);
    want.partitions = std::max(partitions, s.partitions);
    free_scratch(ctx);
    const Shape &m = ctx->s;
    size_t T = want.tokens, S = want.sequences, P = want.partitions;
    CU(cudaMalloc(&s.x, T * m.hidden * sizeof(float)));
    CU(cudaMalloc(&s.xn, T * m.hidden * sizeof(bf16)));
    CU(cudaMalloc(&s.qkv, T * m.qkv() * sizeof(float)));
    CU(cudaMalloc(&s.attn, T * m.q() * sizeof(bf16)));
    CU(cudaMalloc(&s.gate_up, T * 2 * m.intermediate * sizeof(float)));
    CU(cudaMalloc(&s.act, T * m.intermediate * sizeof(bf16)));
    CU(cudaMalloc(&s.last, S * m.hidden * sizeof(bf16)));
    CU(cudaMalloc(&s.logits, S * m.vocab * sizeof(float)));
    CU(cudaMalloc(&s.part_max, T * m.heads * P * sizeof(float)));
    CU(cudaMalloc(&s.part_sum, T * m.heads * P * sizeof(float)));
    CU(cudaMalloc(&s.part_out, T * m.heads * P * m.head_dim * sizeof(float)));
    s.tokens = want.tokens;
    s.sequences = want.sequences;
    s.table_entries = want.table_entries;
    s.partitions = want.partitions;
    CU(cudaMalloc(&s.meta, s.meta_ints() * sizeof(int32_t)));
    CU(cudaMallocHost(&s.host_meta, s.meta_ints() * sizeof(int32_t)));
    CU(cudaMalloc(&s.fmeta, 3 * S * sizeof(float)));
    CU(cudaMallocHost(&s.host_fmeta, 3 * S * sizeof(float)));
    CU(cudaMalloc(&s.sampled, S * sizeof(int32_t)));
    CU(cudaMallocHost(&s.host_sampled, S * sizeof(int32_t)));
    return 0;
}

// Offsets of the metadata arrays in Scratch::meta (fixed for a given scratch size).
struct MetaLayout {
    size_t tokens, position, sequence, table_offset, logit_rows, top_k, tables;
    explicit MetaLayout(const Scratch &s) {
        tokens = 0;
        position = s.tokens;
        sequence = 2 * (size_t)s.tokens;
        table_offset = 3 * (size_t)s.tokens;
        logit_rows = table_offset + s.sequences;
        top_k = logit_rows + s.sequences;
        tables = top_k + s.sequences;
    }
};

// y[rows x n] = x[rows x k] . W[n x k]^T (+ y when accumulate): bf16 inputs, fp32 output and
// accumulation. Column-major cuBLAS sees y^T = W . x^T.
int gemm(ab_cuda_context *ctx, const bf16 *x, int rows, const bf16 *w, int n, int k, float *y, bool accumulate) {
    const float alpha = 1.f, beta = accumulate ? 1.f : 0.f;
    BLAS(cublasGemmEx(ctx->blas, CUBLAS_OP_T, CUBLAS_OP_N, n, rows, k, &alpha, w, CUDA_R_16BF, k, x, CUDA_R_16BF, k, &beta, y,
                      CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return 0;
}

int launch_attention(ab_cuda_context *ctx, const float *q, int64_t q_stride, const bf16 *k_cache, const bf16 *v_cache,
                     ab::TokenMeta meta, int tokens, int heads, int kv_heads, int head_dim, int block_size, int partitions,
                     int max_partitions, float *part_max, float *part_sum, float *part_out, bf16 *out, cudaStream_t stream) {
    const int group = heads / kv_heads, groups_per_kv = (group + ab::kMaxGroup - 1) / ab::kMaxGroup;
    dim3 grid(tokens, kv_heads * groups_per_kv, partitions);
    const float scale = 1.f / sqrtf((float)head_dim);
    const int threads = ab::kAttentionWarps * 32;
    switch (head_dim) {
    case 64:
        ab::attention_partial_kernel<64><<<grid, threads, 0, stream>>>(q, q_stride, k_cache, v_cache, meta, heads, kv_heads, block_size,
                                                                      max_partitions, scale, part_max, part_sum, part_out);
        break;
    case 128:
        ab::attention_partial_kernel<128><<<grid, threads, 0, stream>>>(q, q_stride, k_cache, v_cache, meta, heads, kv_heads, block_size,
                                                                       max_partitions, scale, part_max, part_sum, part_out);
        break;
    case 256:
        ab::attention_partial_kernel<256><<<grid, threads, 0, stream>>>(q, q_stride, k_cache, v_cache, meta, heads, kv_heads, block_size,
                                                                       max_partitions, scale, part_max, part_sum, part_out);
        break;
    default:
        return fail(ctx, "head dimension %d is not supported (64, 128 or 256)", head_dim);
    }
    ab::attention_combine_kernel<<<dim3(tokens, heads), std::min(head_dim, 256), 0, stream>>>(
        meta.position, heads, head_dim, max_partitions, part_max, part_sum, part_out, out);
    CU(cudaGetLastError());
    return 0;
}

// One transformer layer over the iteration's tokens: x += attention, x += MLP.
int layer_forward(ab_cuda_context *ctx, int layer, int tokens, int partitions, const MetaLayout &at) {
    const Shape &m = ctx->s;
    Scratch &s = ctx->scratch;
    const Layer &w = ctx->layers[layer];
    cudaStream_t st = ctx->stream;
    const int threads = m.hidden >= 4096 ? 1024 : 256;
    ab::TokenMeta meta{s.meta + at.position, s.meta + at.sequence, s.meta + at.table_offset, s.meta + at.tables};
    size_t pool = (size_t)ctx->num_blocks * ctx->block_size * m.kv();
    bf16 *kc = ctx->k_cache + (size_t)layer * pool, *vc = ctx->v_cache + (size_t)layer * pool;

    ab::rmsnorm_kernel<<<tokens, threads, 0, st>>>(s.x, nullptr, w.attn_norm, s.xn, m.hidden, m.eps);
    if (gemm(ctx, s.xn, tokens, w.wqkv, m.qkv(), m.hidden, s.qkv, false)) return 1;
    ab::rope_store_kernel<<<tokens, 256, 0, st>>>(s.qkv, meta, ctx->inv_freq, kc, vc, m.heads, m.kv_heads, m.head_dim, m.rope_dim,
                                                  ctx->block_size);
    if (launch_attention(ctx, s.qkv, m.qkv(), kc, vc, meta, tokens, m.heads, m.kv_heads, m.head_dim, ctx->block_size, partitions,
                         s.partitions, s.part_max, s.part_sum, s.part_out, s.attn, st)) return 1;
    if (gemm(ctx, s.attn, tokens, w.wo, m.hidden, m.q(), s.x, true)) return 1;

    ab::rmsnorm_kernel<<<tokens, threads, 0, st>>>(s.x, nullptr, w.ffn_norm, s.xn, m.hidden, m.eps);
    if (gemm(ctx, s.xn, tokens, w.wgate_up, 2 * m.intermediate, m.hidden, s.gate_up, false)) return 1;
    int64_t total = (int64_t)tokens * m.intermediate;
    int blocks = (int)std::min<int64_t>((total + 255) / 256, 65536);
    ab::silu_mul_kernel<<<blocks, 256, 0, st>>>(s.gate_up, s.act, m.intermediate, total);
    if (gemm(ctx, s.act, tokens, w.wdown, m.hidden, m.intermediate, s.x, true)) return 1;
    CU(cudaGetLastError());
    return 0;
}

// Everything between the metadata upload and the sampled ids' download: what a graph holds.
int forward(ab_cuda_context *ctx, int tokens, int rows, int partitions) {
    const Shape &m = ctx->s;
    Scratch &s = ctx->scratch;
    MetaLayout at(s);
    cudaStream_t st = ctx->stream;
    ab::embed_kernel<<<tokens, 256, 0, st>>>(s.meta + at.tokens, ctx->embedding, s.x, m.hidden);
    for (int layer = 0; layer < m.layers; layer++)
        if (layer_forward(ctx, layer, tokens, partitions, at)) return 1;
    if (rows == 0) return 0;
    ab::rmsnorm_kernel<<<rows, m.hidden >= 4096 ? 1024 : 256, 0, st>>>(s.x, s.meta + at.logit_rows, ctx->output_norm, s.last, m.hidden,
                                                                     m.eps);
    if (gemm(ctx, s.last, rows, ctx->output ? ctx->output : ctx->embedding, m.vocab, m.hidden, s.logits, false)) return 1;
    ab::sample_kernel<<<rows, 1024, 0, st>>>(s.logits, m.vocab, s.fmeta, s.meta + at.top_k, s.fmeta + s.sequences,
                                             s.fmeta + 2 * s.sequences, s.sampled);
    CU(cudaGetLastError());
    return 0;
}

// The forward pass of a decode-only iteration from its captured graph (captured on first use).
int forward_graph(ab_cuda_context *ctx, int tokens, int partitions) {
    GraphKey key{tokens, partitions};
    auto found = ctx->graph_cache.find(key);
    if (found == ctx->graph_cache.end()) {
        if (ctx->graph_cache.size() >= kMaxGraphs) return forward(ctx, tokens, tokens, partitions);
        cudaGraph_t graph;
        CU(cudaStreamBeginCapture(ctx->stream, cudaStreamCaptureModeThreadLocal));
        int rc = forward(ctx, tokens, tokens, partitions);
        cudaError_t end = cudaStreamEndCapture(ctx->stream, &graph);
        if (rc) return rc;
        if (end != cudaSuccess) return fail(ctx, "graph capture: %s", cudaGetErrorString(end));
        cudaGraphExec_t exec;
        cudaError_t e = cudaGraphInstantiate(&exec, graph, 0);
        cudaGraphDestroy(graph);
        if (e != cudaSuccess) return fail(ctx, "graph instantiate: %s", cudaGetErrorString(e));
        found = ctx->graph_cache.emplace(key, exec).first;
    }
    CU(cudaGraphLaunch(found->second, ctx->stream));
    return 0;
}

// The partitions the longest context needs, rounded up to a power of two (fewer graph shapes;
// the extra blocks return at once).
int partitions_for(int longest) {
    int need = (longest + ab::kPartition - 1) / ab::kPartition, p = 1;
    while (p < need) p *= 2;
    return p;
}

struct StepShape {
    int tokens = 0, rows = 0, table_entries = 0, longest = 0;
    bool decode_only = true;
};

// Checks the iteration against the model and the KV pool; sums its sizes.
int validate_step(ab_cuda_context *ctx, int num_seqs, const int32_t *info, const int32_t *tokens, const int32_t *tables,
                  StepShape &shape) {
    if (!ctx->k_cache) return fail(ctx, "no KV pool: call ab_cuda_alloc_kv first");
    if (num_seqs <= 0) return fail(ctx, "an iteration needs at least one sequence, got %d", num_seqs);
    for (int i = 0; i < num_seqs; i++) {
        int start = info[4 * i], n = info[4 * i + 1], wants = info[4 * i + 2], blocks = info[4 * i + 3];
        if (start < 0 || n <= 0 || blocks < 0) return fail(ctx, "sequence %d: start %d, %d tokens, %d blocks", i, start, n, blocks);
        if ((int64_t)blocks * ctx->block_size < (int64_t)start + n)
            return fail(ctx, "sequence %d: %d blocks of %d tokens cannot hold positions up to %d", i, blocks, ctx->block_size, start + n - 1);
        for (int b = 0; b < blocks; b++) {
            int id = tables[shape.table_entries + b];
            if (id < 0 || id >= ctx->num_blocks) return fail(ctx, "sequence %d: block id %d outside the pool of %d", i, id, ctx->num_blocks);
        }
        for (int t = 0; t < n; t++) {
            int tok = tokens[shape.tokens + t];
            if (tok < 0 || tok >= ctx->s.vocab) return fail(ctx, "sequence %d: token id %d outside the vocabulary of %d", i, tok, ctx->s.vocab);
        }
        shape.tokens += n;
        shape.rows += wants ? 1 : 0;
        shape.table_entries += blocks;
        shape.longest = std::max(shape.longest, start + n);
        shape.decode_only = shape.decode_only && n == 1 && wants;
    }
    return 0;
}

// Fills the pinned metadata for the scratch layout.
void fill_meta(ab_cuda_context *ctx, int num_seqs, const int32_t *info, const int32_t *tokens, const int32_t *tables,
               const float *sampling, const int32_t *top_k) {
    Scratch &s = ctx->scratch;
    MetaLayout at(s);
    int32_t *h = s.host_meta;
    int row = 0, entry = 0, logit_row = 0;
    for (int i = 0; i < num_seqs; i++) {
        int start = info[4 * i], n = info[4 * i + 1], wants = info[4 * i + 2], blocks = info[4 * i + 3];
        for (int t = 0; t < n; t++, row++) {
            h[at.tokens + row] = tokens[row];
            h[at.position + row] = start + t;
            h[at.sequence + row] = i;
        }
        h[at.table_offset + i] = entry;
        for (int b = 0; b < blocks; b++, entry++) h[at.tables + entry] = tables[entry];
        if (wants) {
            h[at.logit_rows + logit_row] = row - 1;
            h[at.top_k + logit_row] = top_k[i];
            s.host_fmeta[logit_row] = sampling[3 * i];
            s.host_fmeta[s.sequences + logit_row] = sampling[3 * i + 1];
            s.host_fmeta[2 * s.sequences + logit_row] = sampling[3 * i + 2];
            logit_row++;
        }
    }
}

}  // namespace

extern "C" {

int ab_cuda_abi_version(void) { return AB_CUDA_ABI_VERSION; }

const char *ab_cuda_last_error(const ab_cuda_context *ctx) { return ctx ? ctx->error : "no context"; }

static int create_resources(ab_cuda_context *ctx) {
    const Shape &m = ctx->s;
    CU(cudaSetDevice(ctx->device));
    CU(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    BLAS(cublasCreate(&ctx->blas));
    BLAS(cublasSetStream(ctx->blas, ctx->stream));
    if (device_alloc(ctx, (char **)&ctx->blas_workspace, kBlasWorkspace)) return 1;
    BLAS(cublasSetWorkspace(ctx->blas, ctx->blas_workspace, kBlasWorkspace));
    CU(cudaEventCreate(&ctx->start));
    CU(cudaEventCreate(&ctx->stop));
    if (device_alloc(ctx, &ctx->embedding, (size_t)m.vocab * m.hidden)) return 1;
    if (!m.tied && device_alloc(ctx, &ctx->output, (size_t)m.vocab * m.hidden)) return 1;
    if (device_alloc(ctx, &ctx->output_norm, m.hidden)) return 1;
    ctx->layers.resize(m.layers);
    for (Layer &l : ctx->layers) {
        if (device_alloc(ctx, &l.attn_norm, m.hidden) || device_alloc(ctx, &l.ffn_norm, m.hidden) ||
            device_alloc(ctx, &l.wqkv, (size_t)m.qkv() * m.hidden) || device_alloc(ctx, &l.wo, (size_t)m.hidden * m.q()) ||
            device_alloc(ctx, &l.wgate_up, (size_t)2 * m.intermediate * m.hidden) ||
            device_alloc(ctx, &l.wdown, (size_t)m.hidden * m.intermediate))
            return 1;
    }
    std::vector<double> inv(m.rope_dim / 2);
    for (size_t i = 0; i < inv.size(); i++) inv[i] = std::pow(m.rope_base, -2.0 * (double)i / m.rope_dim);
    if (device_alloc(ctx, &ctx->inv_freq, inv.size())) return 1;
    CU(cudaMemcpy(ctx->inv_freq, inv.data(), inv.size() * sizeof(double), cudaMemcpyHostToDevice));
    return 0;
}

static ab_cuda_context *refuse(char *err, int32_t capacity, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    set_error(err, capacity, fmt, args);
    va_end(args);
    return nullptr;
}

ab_cuda_context *ab_cuda_create(const int32_t shape[8], double rope_base, float rms_epsilon, int32_t tied_embeddings, int32_t device,
                                char *err, int32_t err_capacity) {
    Shape m{shape[0], shape[1], shape[2], shape[3], shape[4], shape[5], shape[6], shape[7], rope_base, rms_epsilon, tied_embeddings != 0};
    if (m.layers <= 0 || m.hidden <= 0 || m.heads <= 0 || m.kv_heads <= 0 || m.heads % m.kv_heads || m.intermediate <= 0 ||
        m.vocab <= 0 || m.rope_dim <= 0 || m.rope_dim % 2 || m.rope_dim > m.head_dim)
        return refuse(err, err_capacity, "model shape not supported (layers %d, hidden %d, heads %d/%d, rope %d of %d)", m.layers,
                      m.hidden, m.heads, m.kv_heads, m.rope_dim, m.head_dim);
    if (m.head_dim != 64 && m.head_dim != 128 && m.head_dim != 256)
        return refuse(err, err_capacity, "head dimension %d is not supported (64, 128 or 256)", m.head_dim);
    auto *ctx = new ab_cuda_context();
    ctx->s = m;
    ctx->device = device;
    if (create_resources(ctx)) {
        refuse(err, err_capacity, "%s", ctx->error);
        ab_cuda_destroy(ctx);
        return nullptr;
    }
    return ctx;
}

void ab_cuda_destroy(ab_cuda_context *ctx) {
    if (!ctx) return;
    if (ctx->stream) cudaStreamSynchronize(ctx->stream);
    drop_graphs(ctx);
    free_scratch(ctx);
    for (void *p : ctx->allocations) cudaFree(p);
    cudaFree(ctx->k_cache);
    cudaFree(ctx->v_cache);
    if (ctx->start) cudaEventDestroy(ctx->start);
    if (ctx->stop) cudaEventDestroy(ctx->stop);
    if (ctx->blas) cublasDestroy(ctx->blas);
    if (ctx->stream) cudaStreamDestroy(ctx->stream);
    delete ctx;
}

// Where tensor `tensor` of `layer` lives, how many values it holds, and whether it is fp32 (norms).
static int locate(ab_cuda_context *ctx, int tensor, int layer, void **where, int64_t *count, bool *fp32) {
    const Shape &m = ctx->s;
    bool per_layer = tensor >= AB_CUDA_ATTN_NORM;
    if (per_layer && (layer < 0 || layer >= m.layers)) return fail(ctx, "tensor %d: layer %d outside 0..%d", tensor, layer, m.layers - 1);
    const Layer *l = per_layer ? &ctx->layers[layer] : nullptr;
    int64_t h = m.hidden, I = m.intermediate;
    *fp32 = false;
    switch (tensor) {
    case AB_CUDA_TOKEN_EMBEDDING: *where = ctx->embedding; *count = (int64_t)m.vocab * h; break;
    case AB_CUDA_OUTPUT_NORM: *where = ctx->output_norm; *count = h; *fp32 = true; break;
    case AB_CUDA_OUTPUT:
        if (!ctx->output) return fail(ctx, "the model ties its embeddings: it has no output matrix");
        *where = ctx->output; *count = (int64_t)m.vocab * h; break;
    case AB_CUDA_ATTN_NORM: *where = l->attn_norm; *count = h; *fp32 = true; break;
    case AB_CUDA_FFN_NORM: *where = l->ffn_norm; *count = h; *fp32 = true; break;
    case AB_CUDA_WQ: *where = l->wqkv; *count = (int64_t)m.q() * h; break;
    case AB_CUDA_WK: *where = l->wqkv + (int64_t)m.q() * h; *count = (int64_t)m.kv() * h; break;
    case AB_CUDA_WV: *where = l->wqkv + (int64_t)(m.q() + m.kv()) * h; *count = (int64_t)m.kv() * h; break;
    case AB_CUDA_WO: *where = l->wo; *count = (int64_t)m.q() * h; break;
    case AB_CUDA_WGATE: *where = l->wgate_up; *count = I * h; break;
    case AB_CUDA_WUP: *where = l->wgate_up + I * h; *count = I * h; break;
    case AB_CUDA_WDOWN: *where = l->wdown; *count = I * h; break;
    default: return fail(ctx, "unknown tensor %d", tensor);
    }
    return 0;
}

int ab_cuda_set_weight(ab_cuda_context *ctx, int32_t tensor, int32_t layer, const float *values, int64_t count) {
    void *where;
    int64_t expected;
    bool fp32;
    if (locate(ctx, tensor, layer, &where, &expected, &fp32)) return 1;
    if (count != expected) return fail(ctx, "tensor %d of layer %d: %lld values, expected %lld", tensor, layer, (long long)count,
                                       (long long)expected);
    if (fp32) {
        CU(cudaMemcpy(where, values, count * sizeof(float), cudaMemcpyHostToDevice));
        return 0;
    }
    // Rounded to bf16 on the host (round to nearest even), a slice at a time.
    const int64_t slice = 1 << 22;
    std::vector<bf16> staging((size_t)std::min(count, slice));
    for (int64_t at = 0; at < count; at += slice) {
        int64_t n = std::min(slice, count - at);
        for (int64_t i = 0; i < n; i++) staging[(size_t)i] = __float2bfloat16_rn(values[at + i]);
        CU(cudaMemcpy((bf16 *)where + at, staging.data(), n * sizeof(bf16), cudaMemcpyHostToDevice));
    }
    return 0;
}

int ab_cuda_synthetic_weights(ab_cuda_context *ctx, uint64_t seed) {
    const Shape &m = ctx->s;
    uint64_t tensor = 0;
    auto matrix = [&](bf16 *w, int64_t rows, int64_t cols) {
        float a = sqrtf(3.f / (float)cols);  // uniform with variance 1/fan_in
        ab::synthetic_kernel<<<4096, 256, 0, ctx->stream>>>(w, rows * cols, a, seed, ++tensor);
    };
    auto ones = [&](float *w) { ab::fill_kernel<<<(m.hidden + 255) / 256, 256, 0, ctx->stream>>>(w, m.hidden, 1.f); };
    matrix(ctx->embedding, m.vocab, m.hidden);
    if (ctx->output) matrix(ctx->output, m.vocab, m.hidden);
    ones(ctx->output_norm);
    for (Layer &l : ctx->layers) {
        ones(l.attn_norm);
        ones(l.ffn_norm);
        matrix(l.wqkv, m.qkv(), m.hidden);
        matrix(l.wo, m.hidden, m.q());
        matrix(l.wgate_up, 2 * (int64_t)m.intermediate, m.hidden);
        matrix(l.wdown, m.hidden, m.intermediate);
    }
    CU(cudaGetLastError());
    CU(cudaStreamSynchronize(ctx->stream));
    return 0;
}

int ab_cuda_memory(ab_cuda_context *ctx, int64_t *free_bytes, int64_t *total_bytes) {
    size_t f = 0, t = 0;
    CU(cudaMemGetInfo(&f, &t));
    *free_bytes = (int64_t)f;
    *total_bytes = (int64_t)t;
    return 0;
}

int ab_cuda_device_name(ab_cuda_context *ctx, char *out, int32_t capacity) {
    cudaDeviceProp p;
    CU(cudaGetDeviceProperties(&p, ctx->device));
    snprintf(out, (size_t)capacity, "%s (sm_%d%d)", p.name, p.major, p.minor);
    return 0;
}

int64_t ab_cuda_kv_bytes_per_block(const ab_cuda_context *ctx, int32_t block_size) {
    return 2 * (int64_t)ctx->s.layers * block_size * ctx->s.kv() * (int64_t)sizeof(bf16);
}

int ab_cuda_alloc_kv(ab_cuda_context *ctx, int32_t num_blocks, int32_t block_size) {
    if (num_blocks <= 0 || block_size <= 0) return fail(ctx, "KV pool of %d blocks of %d tokens", num_blocks, block_size);
    CU(cudaStreamSynchronize(ctx->stream));
    drop_graphs(ctx);
    cudaFree(ctx->k_cache);
    cudaFree(ctx->v_cache);
    ctx->k_cache = ctx->v_cache = nullptr;
    ctx->num_blocks = ctx->block_size = 0;
    size_t values = (size_t)ctx->s.layers * num_blocks * block_size * ctx->s.kv();
    CU(cudaMalloc(&ctx->k_cache, values * sizeof(bf16)));
    CU(cudaMalloc(&ctx->v_cache, values * sizeof(bf16)));
    ctx->num_blocks = num_blocks;
    ctx->block_size = block_size;
    return 0;
}

int ab_cuda_set_option(ab_cuda_context *ctx, int32_t option, int64_t value) {
    if (option != AB_CUDA_OPTION_GRAPHS) return fail(ctx, "unknown option %d", option);
    ctx->graphs = value != 0;
    if (!ctx->graphs) drop_graphs(ctx);
    return 0;
}

int ab_cuda_step(ab_cuda_context *ctx, int32_t num_seqs, const int32_t *seq_info, const int32_t *tokens, const int32_t *block_tables,
                 const float *sampling, const int32_t *top_k, int32_t *sampled, float *logits_out, double *elapsed_s) {
    StepShape shape;
    if (validate_step(ctx, num_seqs, seq_info, tokens, block_tables, shape)) return 1;
    int partitions = partitions_for(shape.longest);
    if (reserve(ctx, shape.tokens, num_seqs, shape.table_entries, partitions)) return 1;
    fill_meta(ctx, num_seqs, seq_info, tokens, block_tables, sampling, top_k);
    Scratch &s = ctx->scratch;
    cudaStream_t st = ctx->stream;
    CU(cudaEventRecord(ctx->start, st));
    CU(cudaMemcpyAsync(s.meta, s.host_meta, s.meta_ints() * sizeof(int32_t), cudaMemcpyHostToDevice, st));
    CU(cudaMemcpyAsync(s.fmeta, s.host_fmeta, 3 * (size_t)s.sequences * sizeof(float), cudaMemcpyHostToDevice, st));
    bool graph = ctx->graphs && shape.decode_only && !logits_out;
    if (graph ? forward_graph(ctx, shape.tokens, partitions) : forward(ctx, shape.tokens, shape.rows, partitions)) {
        cudaStreamSynchronize(st);
        return 1;
    }
    if (shape.rows > 0) {
        CU(cudaMemcpyAsync(s.host_sampled, s.sampled, shape.rows * sizeof(int32_t), cudaMemcpyDeviceToHost, st));
        if (logits_out)
            CU(cudaMemcpyAsync(logits_out, s.logits, (size_t)shape.rows * ctx->s.vocab * sizeof(float), cudaMemcpyDeviceToHost, st));
    }
    CU(cudaEventRecord(ctx->stop, st));
    CU(cudaEventSynchronize(ctx->stop));
    float ms = 0;
    CU(cudaEventElapsedTime(&ms, ctx->start, ctx->stop));
    *elapsed_s = ms / 1000.0;
    for (int i = 0, row = 0; i < num_seqs; i++) sampled[i] = seq_info[4 * i + 2] ? s.host_sampled[row++] : -1;
    return 0;
}

}  // extern "C"

// --- kernel checks (scripts/gpu/harness.py) -------------------------------------------------

namespace {

// A throwaway context that only carries a stream, the error text and what it allocated.
struct CheckContext {
    ab_cuda_context ctx;
    char *err;
    int32_t capacity;
    CheckContext(char *e, int32_t c) : err(e), capacity(c) { cudaStreamCreate(&ctx.stream); }
    ~CheckContext() {
        for (void *p : ctx.allocations) cudaFree(p);
        if (ctx.stream) cudaStreamDestroy(ctx.stream);
        ctx.stream = nullptr;
        ctx.allocations.clear();
    }
    int finish(int rc) {
        if (rc && err && capacity > 0) snprintf(err, (size_t)capacity, "%s", ctx.error);
        return rc;
    }
};

template <typename T>
int upload(ab_cuda_context *ctx, T **device, const T *host, size_t count) {
    if (device_alloc(ctx, device, count)) return 1;
    CU(cudaMemcpy(*device, host, count * sizeof(T), cudaMemcpyHostToDevice));
    return 0;
}

int upload_bf16(ab_cuda_context *ctx, bf16 **device, const float *host, size_t count) {
    std::vector<bf16> rounded(count);
    for (size_t i = 0; i < count; i++) rounded[i] = __float2bfloat16_rn(host[i]);
    return upload(ctx, device, rounded.data(), count);
}

int attention_check(ab_cuda_context *ctx, int tokens, int heads, int kv_heads, int d, int num_blocks, int block_size, const float *q,
                    const float *k_cache, const float *v_cache, const int32_t *position, const int32_t *sequence,
                    const int32_t *table_offset, const int32_t *tables, int entries, float *out) {
    if (tokens <= 0 || heads <= 0 || kv_heads <= 0 || heads % kv_heads || num_blocks <= 0 || block_size <= 0 || entries <= 0)
        return fail(ctx, "bad attention check shape");
    int longest = 0, sequences = 0;
    for (int t = 0; t < tokens; t++) {
        longest = std::max(longest, position[t] + 1);
        sequences = std::max(sequences, sequence[t] + 1);
    }
    int partitions = partitions_for(longest);
    size_t cache = (size_t)num_blocks * block_size * kv_heads * d;
    float *dq, *pm, *ps, *po;
    bf16 *dk, *dv, *dout;
    int32_t *dpos, *dseq, *doff, *dtab;
    if (upload(ctx, &dq, q, (size_t)tokens * heads * d) || upload_bf16(ctx, &dk, k_cache, cache) || upload_bf16(ctx, &dv, v_cache, cache) ||
        upload(ctx, &dpos, position, tokens) || upload(ctx, &dseq, sequence, tokens) || upload(ctx, &doff, table_offset, sequences) ||
        upload(ctx, &dtab, tables, entries) || device_alloc(ctx, &pm, (size_t)tokens * heads * partitions) ||
        device_alloc(ctx, &ps, (size_t)tokens * heads * partitions) || device_alloc(ctx, &po, (size_t)tokens * heads * partitions * d) ||
        device_alloc(ctx, &dout, (size_t)tokens * heads * d))
        return 1;
    ab::TokenMeta meta{dpos, dseq, doff, dtab};
    if (launch_attention(ctx, dq, (int64_t)heads * d, dk, dv, meta, tokens, heads, kv_heads, d, block_size, partitions, partitions, pm, ps,
                         po, dout, ctx->stream))
        return 1;
    CU(cudaStreamSynchronize(ctx->stream));
    std::vector<bf16> result((size_t)tokens * heads * d);
    CU(cudaMemcpy(result.data(), dout, result.size() * sizeof(bf16), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < result.size(); i++) out[i] = __bfloat162float(result[i]);
    return 0;
}

int sampling_check(ab_cuda_context *ctx, int rows, int vocab, const float *logits, const float *temperature, const int32_t *top_k,
                   const float *top_p, const float *u, int32_t *out) {
    if (rows <= 0 || vocab <= 0) return fail(ctx, "bad sampling check shape");
    float *dl, *dt, *dp, *du;
    int32_t *dk, *dout;
    if (upload(ctx, &dl, logits, (size_t)rows * vocab) || upload(ctx, &dt, temperature, rows) || upload(ctx, &dk, top_k, rows) ||
        upload(ctx, &dp, top_p, rows) || upload(ctx, &du, u, rows) || device_alloc(ctx, &dout, rows))
        return 1;
    ab::sample_kernel<<<rows, 1024, 0, ctx->stream>>>(dl, vocab, dt, dk, dp, du, dout);
    CU(cudaGetLastError());
    CU(cudaStreamSynchronize(ctx->stream));
    CU(cudaMemcpy(out, dout, rows * sizeof(int32_t), cudaMemcpyDeviceToHost));
    return 0;
}

}  // namespace

extern "C" {

int ab_cuda_check_attention(int32_t tokens, int32_t heads, int32_t kv_heads, int32_t head_dim, int32_t num_blocks, int32_t block_size,
                            const float *q, const float *k_cache, const float *v_cache, const int32_t *token_position,
                            const int32_t *token_sequence, const int32_t *table_offset, const int32_t *block_tables,
                            int32_t block_table_entries, float *out, char *err, int32_t err_capacity) {
    CheckContext c(err, err_capacity);
    return c.finish(attention_check(&c.ctx, tokens, heads, kv_heads, head_dim, num_blocks, block_size, q, k_cache, v_cache,
                                    token_position, token_sequence, table_offset, block_tables, block_table_entries, out));
}

int ab_cuda_check_sampling(int32_t rows, int32_t vocab, const float *logits, const float *temperature, const int32_t *top_k,
                           const float *top_p, const float *u, int32_t *out, char *err, int32_t err_capacity) {
    CheckContext c(err, err_capacity);
    return c.finish(sampling_check(&c.ctx, rows, vocab, logits, temperature, top_k, top_p, u, out));
}

}  // extern "C"

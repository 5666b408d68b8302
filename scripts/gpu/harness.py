#!/usr/bin/env python3
"""accelbench's CUDA backend, checked and timed through its C ABI (ctypes), beside PyTorch.

The GPU machine has PyTorch and transformers but no Swift, so this drives the library the engine
loads (cuda/accelbench_cuda.h) directly:
  checks  - attention against torch SDPA over the gathered blocks; sampling against a sorted walk
            (the CPU sampler's rule); the whole model's logits against transformers' Llama with the
            same weights (SmolLM2-135M's shapes, seeded weights rounded to bf16 for both sides);
  timings - iterations over a grid of prefill tokens, decode batch and context for synthetic
            Llama-3-8B weights, graphs on and off, and PyTorch's eager/SDPA forward at the same
            shapes as the peer; the calibration points `accelbench profile calibrate --from` fits.
--cpu-only runs what needs no GPU: the library loads and every entry point resolves, a kernel
check fails with CUDA's own message, and the PyTorch references agree with an independent
reimplementation of the engine's layout (interleaved RoPE rows) on the CPU.
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch

ABI_VERSION = 1
I32P, F32P = ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_float)
TENSORS = dict(embedding=0, output_norm=1, output=2, attn_norm=3, wq=4, wk=5, wv=6, wo=7, ffn_norm=8, wgate=9, wup=10, wdown=11)
SMOLLM2 = dict(layers=30, hidden=576, heads=9, kv_heads=3, intermediate=1536, vocab=49152, rope_base=100000.0, eps=1e-5, tied=True)
LLAMA3_8B = dict(layers=32, hidden=4096, heads=32, kv_heads=8, intermediate=14336, vocab=128256, rope_base=500000.0, eps=1e-5, tied=False)


def ptr(a, kind):
    return a.ctypes.data_as(kind)


class Library:
    """The backend's functions with their C signatures."""

    def __init__(self, path):
        self.lib = lib = ctypes.CDLL(os.path.abspath(path))
        sig = {
            "ab_cuda_abi_version": (ctypes.c_int, []),
            "ab_cuda_create": (ctypes.c_void_p, [I32P, ctypes.c_double, ctypes.c_float, ctypes.c_int32, ctypes.c_int32, ctypes.c_char_p, ctypes.c_int32]),
            "ab_cuda_destroy": (None, [ctypes.c_void_p]),
            "ab_cuda_last_error": (ctypes.c_char_p, [ctypes.c_void_p]),
            "ab_cuda_set_weight": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32, F32P, ctypes.c_int64]),
            "ab_cuda_synthetic_weights": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_uint64]),
            "ab_cuda_memory": (ctypes.c_int, [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_int64)]),
            "ab_cuda_device_name": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32]),
            "ab_cuda_kv_bytes_per_block": (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_int32]),
            "ab_cuda_alloc_kv": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32]),
            "ab_cuda_set_option": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64]),
            "ab_cuda_step": (ctypes.c_int, [ctypes.c_void_p, ctypes.c_int32, I32P, I32P, I32P, F32P, I32P, I32P, F32P, ctypes.POINTER(ctypes.c_double)]),
            "ab_cuda_check_attention": (ctypes.c_int, [ctypes.c_int32] * 6 + [F32P] * 3 + [I32P] * 4 + [ctypes.c_int32, F32P, ctypes.c_char_p, ctypes.c_int32]),
            "ab_cuda_check_sampling": (ctypes.c_int, [ctypes.c_int32, ctypes.c_int32, F32P, F32P, I32P, F32P, F32P, I32P, ctypes.c_char_p, ctypes.c_int32]),
        }
        for name, (res, args) in sig.items():
            f = getattr(lib, name)  # AttributeError names a missing entry point
            f.restype, f.argtypes = res, args
        found = lib.ab_cuda_abi_version()
        if found != ABI_VERSION:
            raise SystemExit(f"{path}: ABI {found}, this harness speaks {ABI_VERSION}")

    def attention(self, q, k_cache, v_cache, positions, sequences, offsets, tables, heads, kv_heads):
        tokens, d = q.shape[0], q.shape[-1]
        out = np.zeros((tokens, heads, d), np.float32)
        err = ctypes.create_string_buffer(512)
        rc = self.lib.ab_cuda_check_attention(tokens, heads, kv_heads, d, k_cache.shape[0], k_cache.shape[1], ptr(q, F32P), ptr(k_cache, F32P),
                                              ptr(v_cache, F32P), ptr(positions, I32P), ptr(sequences, I32P), ptr(offsets, I32P),
                                              ptr(tables, I32P), len(tables), ptr(out, F32P), err, 512)
        return out, rc, err.value.decode()

    def sample(self, logits, temperature, top_k, top_p, u):
        rows, vocab = logits.shape
        out = np.zeros(rows, np.int32)
        err = ctypes.create_string_buffer(512)
        rc = self.lib.ab_cuda_check_sampling(rows, vocab, ptr(logits, F32P), ptr(temperature, F32P), ptr(top_k, I32P), ptr(top_p, F32P),
                                             ptr(u, F32P), ptr(out, I32P), err, 512)
        return out, rc, err.value.decode()


class Context:
    """One model on the GPU: weights, a KV pool, and steps."""

    def __init__(self, lib, m, device=0):
        self.lib, self.m = lib, m
        self.head_dim = m["hidden"] // m["heads"]
        shape = np.array([m["layers"], m["hidden"], m["heads"], m["kv_heads"], self.head_dim, m["intermediate"], m["vocab"], self.head_dim], np.int32)
        err = ctypes.create_string_buffer(512)
        self.ctx = lib.lib.ab_cuda_create(ptr(shape, I32P), m["rope_base"], m["eps"], int(m["tied"]), device, err, 512)
        if not self.ctx:
            raise RuntimeError(err.value.decode())

    def check(self, rc):
        if rc != 0:
            raise RuntimeError(self.lib.lib.ab_cuda_last_error(self.ctx).decode())

    def set_weight(self, name, layer, values):
        v = np.ascontiguousarray(values, np.float32)
        self.check(self.lib.lib.ab_cuda_set_weight(self.ctx, TENSORS[name], layer, ptr(v, F32P), v.size))

    def alloc_kv(self, blocks, block_size=16):
        self.block_size = block_size
        self.check(self.lib.lib.ab_cuda_alloc_kv(self.ctx, blocks, block_size))

    def free_memory(self):
        f, t = ctypes.c_int64(), ctypes.c_int64()
        self.check(self.lib.lib.ab_cuda_memory(self.ctx, ctypes.byref(f), ctypes.byref(t)))
        return f.value

    def device(self):
        out = ctypes.create_string_buffer(256)
        self.check(self.lib.lib.ab_cuda_device_name(self.ctx, out, 256))
        return out.value.decode()

    def graphs(self, on):
        self.check(self.lib.lib.ab_cuda_set_option(self.ctx, 0, int(on)))

    def step(self, seqs, want_logits=False):
        """seqs: (tokens, start, blocks, wants_logits). Returns (sampled, seconds, logits or None)."""
        info = np.array([[s, len(t), int(w), len(b)] for t, s, b, w in seqs], np.int32).ravel()
        tokens = np.concatenate([np.asarray(t, np.int32) for t, _, _, _ in seqs])
        tables = np.concatenate([np.asarray(b, np.int32) for _, _, b, _ in seqs])
        sampling = np.tile(np.array([0, 1, 0], np.float32), len(seqs))
        top_k = np.zeros(len(seqs), np.int32)
        sampled = np.zeros(len(seqs), np.int32)
        rows = sum(1 for s in seqs if s[3])
        logits = np.zeros((max(rows, 1), self.m["vocab"]), np.float32) if want_logits else None
        seconds = ctypes.c_double()
        self.check(self.lib.lib.ab_cuda_step(self.ctx, len(seqs), ptr(info, I32P), ptr(tokens, I32P), ptr(tables, I32P), ptr(sampling, F32P),
                                             ptr(top_k, I32P), ptr(sampled, I32P), ptr(logits, F32P) if want_logits else None,
                                             ctypes.byref(seconds)))
        return sampled, seconds.value, logits

    def close(self):
        self.lib.lib.ab_cuda_destroy(self.ctx)


# --- references ----------------------------------------------------------------------------

def bf16(a):
    return torch.from_numpy(np.ascontiguousarray(a, np.float32)).to(torch.bfloat16).to(torch.float32).numpy()


def attention_reference(q, k_cache, v_cache, positions, sequences, offsets, tables, heads, kv_heads, device):
    """SDPA per query token over its sequence's gathered blocks (positions 0..pos), bf16-rounded caches."""
    bs = k_cache.shape[1]
    k_all, v_all = torch.from_numpy(bf16(k_cache)).to(device), torch.from_numpy(bf16(v_cache)).to(device)
    out = np.zeros((q.shape[0], heads, q.shape[-1]), np.float32)
    for t in range(q.shape[0]):
        n = int(positions[t]) + 1
        blocks = tables[offsets[sequences[t]]:][: (n + bs - 1) // bs]
        k = k_all[torch.as_tensor(blocks, device=device)].reshape(-1, kv_heads, q.shape[-1])[:n]
        v = v_all[torch.as_tensor(blocks, device=device)].reshape(-1, kv_heads, q.shape[-1])[:n]
        group = heads // kv_heads
        k = k.permute(1, 0, 2).repeat_interleave(group, 0)[None]  # [1, heads, n, d]
        v = v.permute(1, 0, 2).repeat_interleave(group, 0)[None]
        qt = torch.from_numpy(q[t]).to(device)[None, :, None, :]  # [1, heads, 1, d]
        out[t] = torch.nn.functional.scaled_dot_product_attention(qt, k, v)[0, :, 0].cpu().numpy()
    return out


def sampling_reference(logits, temperature, top_k, top_p, u):
    """The CPU sampler's rule (Sources/EngineCPU/Sampler.swift): order by logit (lower id first among
    equals), top-k prefix, top-p prefix, walk to u * kept weight. Also returns the margin of the
    draw to its nearest boundary, relative to the kept weight (float rounding can flip a draw that close)."""
    ids, margins = [], []
    for row in range(logits.shape[0]):
        lg = logits[row].astype(np.float64)
        if temperature[row] <= 0:
            ids.append(int(np.argmax(lg)))
            margins.append(1.0)
            continue
        order = np.lexsort((np.arange(lg.size), -lg))
        q = np.exp((lg[order] - lg.max()) / temperature[row])
        kept = top_k[row] if 0 < top_k[row] < lg.size else lg.size
        cum = np.cumsum(q[:kept])
        total = cum[-1]
        if top_p[row] < 1:
            kept = int(np.searchsorted(cum / total, top_p[row])) + 1
            total = cum[kept - 1]
        x = u[row] * total
        k = int(np.searchsorted(cum[:kept], x, side="right"))
        k = min(k, kept - 1)
        ids.append(int(order[k]))
        margins.append(float(min(abs(cum[k] - x), abs(x - (cum[k - 1] if k else 0.0))) / total))
    return np.array(ids), np.array(margins)


def interleave_rows(w, heads, d):
    """Hugging Face's Q/K rows (RoPE on halves) to the engine's (RoPE on adjacent pairs): row i -> 2i, i + d/2 -> 2i + 1."""
    w = w.reshape(heads, 2, d // 2, -1).transpose(0, 2, 1, 3)
    return w.reshape(heads * d, -1)


def hf_model(m, seed):
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=m["vocab"], hidden_size=m["hidden"], intermediate_size=m["intermediate"], num_hidden_layers=m["layers"],
                      num_attention_heads=m["heads"], num_key_value_heads=m["kv_heads"], rope_theta=m["rope_base"], rms_norm_eps=m["eps"],
                      tie_word_embeddings=m["tied"], max_position_embeddings=8192, attn_implementation="eager")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.copy_(1 + 0.1 * torch.randn_like(p))  # norms not all ones, so their use is checked
            p.copy_(p.to(torch.bfloat16).to(torch.float32))  # both sides see the same bf16 weights
    return model


def engine_weights(model, m):
    """The engine's tensors (Sources/Models' layout) from a transformers Llama."""
    d = m["hidden"] // m["heads"]
    sd = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    yield "embedding", -1, sd["model.embed_tokens.weight"]
    yield "output_norm", -1, sd["model.norm.weight"]
    if not m["tied"]:
        yield "output", -1, sd["lm_head.weight"]
    for i in range(m["layers"]):
        p = f"model.layers.{i}."
        yield "attn_norm", i, sd[p + "input_layernorm.weight"]
        yield "wq", i, interleave_rows(sd[p + "self_attn.q_proj.weight"], m["heads"], d)
        yield "wk", i, interleave_rows(sd[p + "self_attn.k_proj.weight"], m["kv_heads"], d)
        yield "wv", i, sd[p + "self_attn.v_proj.weight"]
        yield "wo", i, sd[p + "self_attn.o_proj.weight"]
        yield "ffn_norm", i, sd[p + "post_attention_layernorm.weight"]
        yield "wgate", i, sd[p + "mlp.gate_proj.weight"]
        yield "wup", i, sd[p + "mlp.up_proj.weight"]
        yield "wdown", i, sd[p + "mlp.down_proj.weight"]


def interleaved_forward(weights, m, ids):
    """An independent float64 forward in the engine's layout (adjacent-pair RoPE), to check the
    export above and the convention the GPU check relies on, on the CPU."""
    w = {}
    for name, layer, v in weights:
        w[(name, layer)] = torch.from_numpy(np.asarray(v, np.float64))
    d, n = m["hidden"] // m["heads"], len(ids)
    x = w[("embedding", -1)][torch.as_tensor(ids)]
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    inv = m["rope_base"] ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    cos, sin = torch.cos(pos * inv), torch.sin(pos * inv)

    def norm(v, g):
        return v / torch.sqrt((v * v).mean(-1, keepdim=True) + m["eps"]) * g

    def rope(v, heads):
        v = v.reshape(n, heads, d // 2, 2)
        a, b = v[..., 0], v[..., 1]
        return torch.stack((a * cos[:, None] - b * sin[:, None], a * sin[:, None] + b * cos[:, None]), -1).reshape(n, heads, d)

    mask = torch.full((n, n), float("-inf"), dtype=torch.float64).triu(1)
    for i in range(m["layers"]):
        h = norm(x, w[("attn_norm", i)])
        q, k, v = rope(h @ w[("wq", i)].T, m["heads"]), rope(h @ w[("wk", i)].T, m["kv_heads"]), (h @ w[("wv", i)].T).reshape(n, m["kv_heads"], d)
        g = m["heads"] // m["kv_heads"]
        k, v = k.repeat_interleave(g, 1), v.repeat_interleave(g, 1)
        s = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(d) + mask
        o = torch.einsum("hqk,khd->qhd", torch.softmax(s, -1), v).reshape(n, -1)
        x = x + o @ w[("wo", i)].T
        h = norm(x, w[("ffn_norm", i)])
        x = x + (torch.nn.functional.silu(h @ w[("wgate", i)].T) * (h @ w[("wup", i)].T)) @ w[("wdown", i)].T
    head = w[("output", -1)] if ("output", -1) in w else w[("embedding", -1)]
    return norm(x, w[("output_norm", -1)]) @ head.T


# --- checks --------------------------------------------------------------------------------

def attention_cases(rng):
    """(heads, kv_heads, head_dim, block_size, [(context before, new tokens) per sequence])."""
    return [
        (32, 8, 128, 16, [(0, 1), (16, 1), (599, 1), (1500, 1), (5000, 1)]),  # decodes, several partitions
        (9, 3, 64, 16, [(700, 96)]),                                           # a prefill chunk after a cached prefix
        (32, 32, 128, 32, [(0, 40), (300, 1), (1100, 1)]),                      # a mixed batch, MHA
        (64, 4, 128, 16, [(2047, 2)]),                                          # 16 query heads per KV head: the kernel loops over groups of 8
    ]


def check_attention(lib, rng, device):
    results = []
    for heads, kv_heads, d, bs, seqs in attention_cases(rng):
        needed = [(c + n + bs - 1) // bs for c, n in seqs]
        num_blocks = sum(needed) + 3
        perm = rng.permutation(num_blocks).astype(np.int32)  # blocks scattered through the pool
        tables, offsets, at = [], [], 0
        for k in needed:
            offsets.append(at)
            tables.extend(perm[at:at + k])
            at += k
        k_cache = rng.standard_normal((num_blocks, bs, kv_heads, d), dtype=np.float32)
        v_cache = rng.standard_normal((num_blocks, bs, kv_heads, d), dtype=np.float32)
        positions = np.array([c + i for c, n in seqs for i in range(n)], np.int32)
        sequences = np.array([s for s, (c, n) in enumerate(seqs) for _ in range(n)], np.int32)
        q = rng.standard_normal((len(positions), heads, d), dtype=np.float32)
        tables, offsets = np.array(tables, np.int32), np.array(offsets, np.int32)
        out, rc, err = lib.attention(q, k_cache, v_cache, positions, sequences, offsets, tables, heads, kv_heads)
        if rc:
            return [{"error": err}]
        ref = attention_reference(q, k_cache, v_cache, positions, sequences, offsets, tables, heads, kv_heads, device)
        results.append({"heads": heads, "kv_heads": kv_heads, "head_dim": d, "sequences": seqs, "max_abs_error": float(np.abs(out - ref).max()),
                        "pass": bool(np.allclose(out, ref, atol=2e-2, rtol=2e-2))})
    return results


def check_sampling(lib, rng):
    rows, vocab = 64, 49152
    logits = (rng.standard_normal((rows, vocab)) * 3).astype(np.float32)
    logits[5, 100:110] = logits[5].max() + 1  # exact ties at the top
    temperature = np.where(np.arange(rows) % 4 == 0, 0, rng.uniform(0.3, 1.5, rows)).astype(np.float32)
    top_k = np.where(np.arange(rows) % 3 == 0, rng.integers(1, 200, rows), 0).astype(np.int32)
    top_p = np.where(np.arange(rows) % 2 == 0, rng.uniform(0.5, 0.99, rows), 1).astype(np.float32)
    u = rng.uniform(0, 1, rows).astype(np.float32)
    out, rc, err = lib.sample(logits, temperature, top_k, top_p, u)
    if rc:
        return {"error": err}
    ref, margin = sampling_reference(logits, temperature, top_k, top_p, u)
    differ = out != ref
    return {"rows": rows, "vocab": vocab, "differ": int(differ.sum()), "differ_away_from_a_boundary": int((differ & (margin > 1e-4)).sum()),
            "pass": bool(not (differ & (margin > 1e-4)).any())}


def check_model(lib, rng, device):
    """SmolLM2-135M's shapes, seeded bf16 weights: a 300-token prompt in two chunks, then greedy
    decodes, each position's logits against transformers' on the whole sequence."""
    m = SMOLLM2
    model = hf_model(m, seed=7)
    ctx = Context(lib, m)
    try:
        for name, layer, v in engine_weights(model, m):
            ctx.set_weight(name, layer, v)
        ctx.alloc_kv(64)
        blocks = list(range(3, 40))  # not starting at 0
        prompt = rng.integers(0, m["vocab"], 300).tolist()
        ids, rows = list(prompt), []
        _, _, _ = ctx.step([(prompt[:256], 0, blocks, False)])
        sampled, _, logits = ctx.step([(prompt[256:], 256, blocks, True)], want_logits=True)
        rows.append(logits[0])
        for _ in range(4):
            ids.append(int(sampled[0]))
            sampled, _, logits = ctx.step([([ids[-1]], len(ids) - 1, blocks, True)], want_logits=True)
            rows.append(logits[0])
    finally:
        ctx.close()
    with torch.no_grad():
        ref = model.to(device)(torch.tensor([ids], device=device)).logits[0, len(prompt) - 1:].float().cpu().numpy()
    ours = np.stack(rows)
    scale = ref.std()
    return {"positions": len(rows), "max_abs_error_over_logit_std": float(np.abs(ours - ref).max() / scale),
            "argmax_agrees": int((ours.argmax(-1) == ref.argmax(-1)).sum()), "greedy_tokens_match_reference": bool(all(
                int(ref[i].argmax()) == ids[len(prompt) + i] for i in range(len(rows) - 1))),
            "pass": bool(np.abs(ours - ref).max() / scale < 0.05 and (ours.argmax(-1) == ref.argmax(-1)).all())}


# --- timings -------------------------------------------------------------------------------

def median_time(fn, reps):
    fn()
    return statistics.median(fn() for _ in range(reps))


def engine_timings(lib, reps, quick):
    m = LLAMA3_8B
    ctx = Context(lib, m)
    ctx.check(lib.lib.ab_cuda_synthetic_weights(ctx.ctx, 1))
    per_block = lib.lib.ab_cuda_kv_bytes_per_block(ctx.ctx, 16)
    blocks = int(ctx.free_memory() * 0.8 // per_block)
    ctx.alloc_kv(blocks)
    device, vocab = ctx.device(), m["vocab"]
    tok = lambda n, s=0: [(7 * i + 13 * s) % (vocab - 100) + 100 for i in range(n)]
    next_block = [0]

    def table(tokens):
        k = (tokens + 15) // 16
        next_block[0] += k
        if next_block[0] > blocks:
            next_block[0] = k
        return list(range(next_block[0] - k, next_block[0]))

    def filled(n_seqs, context):
        """Sequences with `context` tokens already in the cache."""
        seqs = []
        for s in range(n_seqs):
            b = table(context + 1)
            for start in range(0, context, 8192):
                ctx.step([(tok(min(8192, context - start), s), start, b, False)])
            seqs.append(b)
        return seqs

    def timed(seqs):
        return lambda: ctx.step(seqs)[1]

    out = {"device": device, "model": "synthetic-llama3-8b", "kv_blocks": blocks, "prefill": [], "decode": [], "calibration": {}}
    prefills = [128, 512, 2048] if quick else [128, 256, 512, 1024, 2048, 4096, 8192]
    for n in prefills:
        b = table(n)
        out["prefill"].append({"tokens": n, "s": median_time(timed([(tok(n), 0, b, True)]), reps)})
    grid = [(1, 512), (32, 512), (128, 2048)] if quick else [(b, c) for c in (512, 2048, 8192) for b in (1, 8, 32, 64, 128, 256) if b * c <= 262144]
    for batch, context in grid:
        tables = filled(batch, context)
        row = {"batch": batch, "context": context}
        for graphs in (True, False):
            ctx.graphs(graphs)
            row["graphs_s" if graphs else "eager_s"] = median_time(timed([(tok(1, s + 9), context, tables[s], True) for s in range(batch)]), reps)
        ctx.graphs(True)
        out["decode"].append(row)
    out["calibration"] = calibration_points(ctx, tok, table, filled, reps, quick)
    ctx.close()
    return out


def calibration_points(ctx, tok, table, filled, reps, quick):
    """The measurements of Sources/Harness/CPUCalibration.swift, for `profile calibrate --from`."""
    singles = lambda n, logits: [(tok(1, s), 0, table(1), logits) for s in range(n)]
    cal = {"linear": [], "sequences": [], "prefill_attention": {"chunk_tokens": 512, "points": []},
           "decode_attention": {"batch": 32, "points": []}}
    for n in ([1, 16, 128, 512, 2048] if quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192]):
        cal["linear"].append({"tokens": n, "s": median_time(lambda: ctx.step(singles(n, False))[1], reps)})
    for r in [1, 8, 64, 256]:
        diff = lambda: ctx.step(singles(r, True))[1] - ctx.step(singles(r, False))[1]
        cal["sequences"].append({"count": r, "s": max(0.0, median_time(diff, reps))})
    for c in [0, 2048, 6144]:
        b = filled(1, c)[0] if c else table(512)
        if c:
            b = b + table(512)
        cal["prefill_attention"]["points"].append({"context": c, "s": median_time(lambda: ctx.step([(tok(512, 1), c, b, True)])[1], reps)})
    for c in [512, 2048, 8192]:
        tables = filled(32, c)
        cal["decode_attention"]["points"].append({"context": c, "s": median_time(lambda: ctx.step([(tok(1, s + 7), c, tables[s], True) for s in range(32)])[1], reps)})
    return cal


def torch_timings(out, reps):
    """PyTorch eager (SDPA attention) at the same shapes: transformers' Llama, bf16, random weights."""
    from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM
    m = LLAMA3_8B
    cfg = LlamaConfig(vocab_size=m["vocab"], hidden_size=m["hidden"], intermediate_size=m["intermediate"], num_hidden_layers=m["layers"],
                      num_attention_heads=m["heads"], num_key_value_heads=m["kv_heads"], rope_theta=m["rope_base"], rms_norm_eps=m["eps"],
                      tie_word_embeddings=False, max_position_embeddings=16384, attn_implementation="sdpa")
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg).eval()
    torch.set_default_dtype(torch.float32)

    def cuda_time(fn):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000

    with torch.no_grad():
        for row in out["prefill"]:
            ids = torch.randint(100, 30000, (1, row["tokens"]), device="cuda")
            row["pytorch_s"] = median_time(lambda: cuda_time(lambda: model(ids, use_cache=False, logits_to_keep=1)), reps)
        for row in out["decode"]:
            b, c = row["batch"], row["context"]
            cache = DynamicCache()
            for layer in range(m["layers"]):
                kv = torch.randn(b, m["kv_heads"], c, m["hidden"] // m["heads"], device="cuda", dtype=torch.bfloat16)
                cache.update(kv, kv.clone(), layer)
            ids = torch.randint(100, 30000, (b, 1), device="cuda")
            pos = torch.full((b, 1), c, device="cuda")

            def one():
                t = cuda_time(lambda: model(ids, past_key_values=cache, position_ids=pos, use_cache=True))
                cache.crop(c)
                return t
            row["pytorch_s"] = median_time(one, reps)
            del cache
            torch.cuda.empty_cache()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--library", required=True)
    ap.add_argument("--out", default=os.environ.get("OUT", "."))
    ap.add_argument("--cpu-only", action="store_true")
    ap.add_argument("--quick", action="store_true", help="a small grid (a first look, or a rerun in little time)")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(2026)
    lib = Library(args.library)
    print(f"{args.library}: ABI {ABI_VERSION}, every entry point resolved")
    if args.cpu_only:
        return cpu_only(lib, rng)
    report = {"torch": torch.__version__, "checks": {}}
    report["checks"]["attention"] = check_attention(lib, rng, "cuda")
    report["checks"]["sampling"] = check_sampling(lib, rng)
    report["checks"]["model"] = check_model(lib, rng, "cuda")
    print(json.dumps(report["checks"], indent=1))
    write(args.out, "checks.json", report)
    t0 = time.time()
    timings = engine_timings(lib, args.reps, args.quick)
    print(f"engine timings in {time.time() - t0:.0f} s")
    write(args.out, "timings.json", timings)
    torch.cuda.empty_cache()
    torch_timings(timings, args.reps)
    write(args.out, "timings.json", timings)
    cal = dict(timings["calibration"], device=timings["device"], model=timings["model"], architecture="llama3-8b", block_size=16, kv_blocks=timings["kv_blocks"])
    write(args.out, "calibration.json", cal)
    for row in timings["prefill"]:
        print(f"prefill {row['tokens']:5d}: ours {row['s'] * 1e3:8.2f} ms, pytorch {row['pytorch_s'] * 1e3:8.2f} ms")
    for row in timings["decode"]:
        print(f"decode B{row['batch']:<3d} ctx {row['context']:5d}: graphs {row['graphs_s'] * 1e3:7.2f} ms, eager {row['eager_s'] * 1e3:7.2f} ms, pytorch {row['pytorch_s'] * 1e3:7.2f} ms")
    failed = [k for k, v in report["checks"].items() if not all(r.get("pass") for r in (v if isinstance(v, list) else [v]))]
    if failed:
        raise SystemExit(f"checks failed: {failed}")


def cpu_only(lib, rng):
    """What runs without a GPU."""
    _, rc, err = lib.sample(np.zeros((1, 8), np.float32), np.zeros(1, np.float32), np.zeros(1, np.int32), np.ones(1, np.float32), np.zeros(1, np.float32))
    assert rc != 0 and err, "a kernel ran without a GPU?"
    print(f"kernel check without a GPU fails cleanly: {err}")
    # The references: SDPA over gathered blocks against a direct loop, on one small case.
    heads, kv_heads, d, bs = 4, 2, 8, 4
    k_cache, v_cache = rng.standard_normal((6, bs, kv_heads, d), dtype=np.float32), rng.standard_normal((6, bs, kv_heads, d), dtype=np.float32)
    tables, offsets = np.array([4, 1, 5], np.int32), np.array([0], np.int32)
    positions, sequences = np.array([9], np.int32), np.array([0], np.int32)
    q = rng.standard_normal((1, heads, d), dtype=np.float32)
    ref = attention_reference(q, k_cache, v_cache, positions, sequences, offsets, tables, heads, kv_heads, "cpu")
    k = bf16(k_cache)[tables].reshape(-1, kv_heads, d)[:10]
    v = bf16(v_cache)[tables].reshape(-1, kv_heads, d)[:10]
    for h in range(heads):
        s = k[:, h // 2] @ q[0, h] / math.sqrt(d)
        p = np.exp(s - s.max())
        assert np.allclose(ref[0, h], (p / p.sum()) @ v[:, h // 2], atol=1e-5), "attention reference"
    # The sampling reference: greedy and a one-token top-k are the argmax.
    lg = rng.standard_normal((2, 50)).astype(np.float32)
    ids, _ = sampling_reference(lg, np.array([0, 1], np.float32), np.array([0, 1], np.int32), np.ones(2, np.float32), np.array([0.5, 0.5], np.float32))
    assert (ids == lg.argmax(-1)).all(), "sampling reference"
    # The weight export: transformers' logits == the engine-layout forward on the exported tensors.
    m = dict(SMOLLM2, layers=2, vocab=512)
    model = hf_model(m, seed=3)
    ids = rng.integers(0, m["vocab"], 12).tolist()
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].double()
    ours = interleaved_forward(engine_weights(model, m), m, ids)
    err = float((ours - ref).abs().max() / ref.std())
    assert err < 1e-4, f"engine layout vs transformers: {err}"
    print(f"references agree on the CPU (attention, sampling, weight export: max error {err:.1e} of the logit spread)")


def write(directory, name, value):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    with open(path + ".partial", "w") as f:
        json.dump(value, f, indent=1)
    os.replace(path + ".partial", path)


if __name__ == "__main__":
    main()

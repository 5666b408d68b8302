#!/usr/bin/env python3
"""llama.cpp's CPU speed on SmolLM2-135M, the peer of `accelbench bench cpu`.

  cpu_peer.py [--model GGUF] [--threads 2] [--prefill 128,512] [--batches 1,8,32]
              [--context 128] [--steps 32] [--reps 5]

Runs in the llama-cpp-python venv (.interop/venv-llama) and drives llama.cpp through its
low-level C API (llama_batch_init / llama_decode / llama_memory_clear), so no Python-side
sampling or token bookkeeping is timed. Settings: n_threads = n_threads_batch = --threads,
n_batch = n_ubatch = 512, KV cache F16, flash attention explicitly disabled (llama.cpp's
default is "auto", which turns it on for the CPU backend).

  prefill P: one sequence of P tokens decoded in one llama_decode call (logits for the last
             token only), KV cache cleared before each rep; 1 warm-up + --reps timed reps;
             reports the median time and P / median.
  decode B:  B sequences (seq ids 0..B-1) of --context tokens each are prefilled (untimed),
             then --steps steps, each one llama_decode of B tokens (one per sequence, position
             context + step, logits for every token); reports the median step time and
             B / median. Each B gets its own context with n_seq_max = B and a per-sequence
             (non-unified) KV cache, so attention looks only at the sequence's own cells.

Token ids are deterministic: (1000 + 7*i) % 49152, shifted past the first 100 ids (special
tokens). Stdout: one JSON object per measurement; everything else goes to stderr.
"""
import argparse
import ctypes
import json
import os
import statistics
import sys
import time

N_CTX = 8192
N_BATCH = 512
VOCAB = 49152


def log(msg):
    print(f"cpu_peer: {msg}", file=sys.stderr, flush=True)


def token_id(i):
    t = (1000 + 7 * i) % VOCAB
    return t + 100 if t < 100 else t


def int_list(s):
    return [int(x) for x in s.split(",") if x.strip()]


class Peer:
    def __init__(self, llama_cpp, model_path, threads):
        self.l = llama_cpp
        self.threads = threads
        mparams = llama_cpp.llama_model_default_params()
        self.model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
        if not self.model:
            raise SystemExit(f"cpu_peer: cannot load {model_path}")
        n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(self.model))
        if n_vocab < VOCAB:
            raise SystemExit(f"cpu_peer: model vocabulary {n_vocab} < {VOCAB}")

    def new_context(self, n_seq_max):
        l = self.l
        p = l.llama_context_default_params()
        p.n_ctx = N_CTX
        p.n_batch = N_BATCH
        p.n_ubatch = N_BATCH
        p.n_seq_max = n_seq_max
        p.n_threads = self.threads
        p.n_threads_batch = self.threads
        p.flash_attn_type = l.LLAMA_FLASH_ATTN_TYPE_DISABLED
        p.type_k = l.GGML_TYPE_F16
        p.type_v = l.GGML_TYPE_F16
        p.kv_unified = False
        p.no_perf = True
        ctx = l.llama_init_from_model(self.model, p)
        if not ctx:
            raise SystemExit(f"cpu_peer: cannot create a context (n_seq_max={n_seq_max})")
        return ctx

    def clear(self, ctx):
        self.l.llama_memory_clear(self.l.llama_get_memory(ctx), True)

    @staticmethod
    def fill(batch, items):
        """items: (token, pos, seq, want_logits) tuples."""
        for i, (tok, pos, seq, out) in enumerate(items):
            batch.token[i] = tok
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = 1 if out else 0
        batch.n_tokens = len(items)

    def decode(self, ctx, batch):
        """Time one llama_decode (plus the synchronize that ends it), in seconds."""
        t0 = time.perf_counter()
        rc = self.l.llama_decode(ctx, batch)
        self.l.llama_synchronize(ctx)
        dt = time.perf_counter() - t0
        if rc != 0:
            raise SystemExit(f"cpu_peer: llama_decode returned {rc}")
        return dt

    def prefill(self, ctx, batch, n_tokens, reps):
        if n_tokens > N_BATCH:
            raise SystemExit(f"cpu_peer: prefill {n_tokens} > n_batch {N_BATCH} (one llama_decode call)")
        items = [(token_id(i), i, 0, i == n_tokens - 1) for i in range(n_tokens)]
        times = []
        for rep in range(reps + 1):  # rep 0 is the warm-up
            self.clear(ctx)
            self.fill(batch, items)
            dt = self.decode(ctx, batch)
            if rep:
                times.append(dt)
        return statistics.median(times)

    def decode_steps(self, ctx, batch, n_seq, context, steps):
        self.clear(ctx)
        # Untimed prefill: B sequences of `context` tokens, packed into batches of <= N_BATCH.
        items = [(token_id(s * context + j), j, s, False) for s in range(n_seq) for j in range(context)]
        for k in range(0, len(items), N_BATCH):
            self.fill(batch, items[k:k + N_BATCH])
            self.decode(ctx, batch)
        times = []
        for step in range(steps):
            pos = context + step
            self.fill(batch, [(token_id(n_seq * context + step * n_seq + s), pos, s, True)
                              for s in range(n_seq)])
            times.append(self.decode(ctx, batch))
        return statistics.median(times)


def main():
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(repo, ".models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefill", type=int_list, default=[128, 512])
    ap.add_argument("--batches", type=int_list, default=[1, 8, 32])
    ap.add_argument("--context", type=int, default=128)
    ap.add_argument("--steps", type=int, default=32)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if a.threads < 1 or a.steps < 1 or a.reps < 1 or a.context < 1:
        ap.error("--threads, --steps, --reps and --context must be >= 1")
    for b in a.batches:
        if not 1 <= b <= N_BATCH or b * (a.context + a.steps) > N_CTX:
            ap.error(f"batch {b}: need 1 <= B <= {N_BATCH} and B*(context+steps) <= {N_CTX}")
    if not os.path.isfile(a.model):
        raise SystemExit(f"cpu_peer: no model at {a.model} (run: bash scripts/install-model.sh)")

    import llama_cpp

    # Silence llama.cpp and ggml (the callback must outlive every llama.cpp call).
    global _NOOP_LOG
    _NOOP_LOG = llama_cpp.llama_log_callback(lambda level, text, user_data: None)
    llama_cpp.llama_log_set(_NOOP_LOG, ctypes.c_void_p())
    llama_cpp.llama_backend_init()

    version = llama_cpp.__version__
    peer = Peer(llama_cpp, a.model, a.threads)
    base = {"tool": "llama.cpp", "version": version, "threads": a.threads}

    def emit(obj):
        print(json.dumps(obj, separators=(",", ":")), flush=True)

    if a.prefill:
        ctx = peer.new_context(1)
        batch = llama_cpp.llama_batch_init(N_BATCH, 0, 1)
        for n in a.prefill:
            med = peer.prefill(ctx, batch, n, a.reps)
            emit({**base, "kind": "prefill", "tokens": n,
                  "median_ms": round(med * 1e3, 4), "tokens_per_s": round(n / med, 2)})
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)

    for b in a.batches:
        ctx = peer.new_context(b)
        batch = llama_cpp.llama_batch_init(N_BATCH, 0, 1)
        med = peer.decode_steps(ctx, batch, b, a.context, a.steps)
        emit({**base, "kind": "decode", "batch": b, "context": a.context,
              "median_ms": round(med * 1e3, 4), "tokens_per_s": round(b / med, 2)})
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)

    llama_cpp.llama_model_free(peer.model)
    llama_cpp.llama_backend_free()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Reference logits for the Swift CPU engine's tests (EngineCPUTests), from llama.cpp
(llama-cpp-python) and, where available, Hugging Face transformers' GGUF loader, on
SmolLM2-135M-Instruct Q4_1.

  reference.py --model GGUF --out JSON [--hf-python PYTHON]
      runs in the llama-cpp-python venv (needs llama_cpp, gguf, jinja2, numpy); prints the GGUF's
      tensors and metadata to stdout, evaluates every case with llama.cpp, then (with --hf-python)
      runs this same file as `--hf-worker` in the transformers venv and merges its results.
  reference.py --hf-worker REQUEST.json RESPONSE.json
      runs in the transformers venv (torch, transformers, gguf).

Every float in the output is rounded to 6 significant digits.
"""
import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time

N_TOP = 64
N_PROBE = 64
PROBE_SEED = 1234
N_GREEDY = 40
N_THREADS = 2
N_CTX = 2048
N_BATCH = 512

TOKENIZE_STRINGS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    " leading space",
    "   three leading spaces and trailing   ",
    "12345",
    "3.14159, 2,718 and 1000000 (+42%)",
    "Hello, world! Isn't it: \"great\"? [yes]; {no} -- <ok> ... #1 @user $5 & more*",
    "line one\nline two\n\n\tindented\r\nwindows",
    "héllo wörld 日本語 🙂",
    "<|im_start|>user\nHi<|im_end|>\n",
    "def f(x):\n    return x ** 2  # square\n",
    "CamelCaseWord snake_case_word https://example.com/a?b=1",
    "don't I'll we're they've she'd HELLO",
]

PARAGRAPH = (
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg "
    "combined movable metal type, oil-based ink and a wooden screw press into a practical system. "
    "Before his invention, books were copied by hand, which made them rare and expensive. Within "
    "a few decades, printing shops had spread to more than two hundred cities across Europe, and "
    "millions of books were in circulation. Cheaper books helped literacy grow, allowed scientists "
    "to share their results quickly, and changed how people thought about knowledge itself."
)

LONG_PARTS = [
    "Chapter one. The river town woke slowly in the grey light of early spring. Fishermen pulled "
    "their boats onto the gravel bank, and the baker opened his shutters to let out the smell of "
    "warm bread. Children ran along the narrow streets toward the school house, where the old "
    "teacher was already writing the day's lessons on the blackboard.",
    "In the afternoon the market square filled with traders from the surrounding villages. They "
    "sold apples, cheese, wool, copper pots and bundles of dried herbs. A juggler performed near "
    "the fountain, and a small crowd gathered to watch him throw five painted balls into the air "
    "without dropping a single one.",
    "Computers execute programs by fetching instructions from memory, decoding them and carrying "
    "out simple operations such as addition, comparison and moving data between registers. "
    "Modern processors overlap many of these steps, predict the outcome of branches, and keep "
    "frequently used data in small, fast caches close to the arithmetic units.",
    "A neural language model assigns a probability to every token in its vocabulary given the "
    "tokens that came before. During generation, the model repeatedly picks a token, appends it "
    "to the context and computes the next distribution. Attention layers let each position look "
    "back at all earlier positions, which is why long prompts cost more to process.",
    "The weather report for the coming week predicts light rain on Monday and Tuesday, followed "
    "by clear skies and rising temperatures. Farmers hope the rain will arrive in time for the "
    "young wheat, while the organisers of Saturday's festival are counting on the sunshine.",
    "Mathematics offers many beautiful results. The sum of the first n odd numbers is always a "
    "perfect square; the angles of a triangle in a flat plane add up to one hundred and eighty "
    "degrees; and there are infinitely many prime numbers, as Euclid proved more than two "
    "thousand years ago.",
]

CHAT_QUESTION = "What is the tallest mountain in the world?"
BIG_ARRAYS = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
              "tokenizer.ggml.merges"}


def r6(x):
    return float(f"{float(x):.6g}")


def dump_json(obj, indent=0):
    """JSON with one key per line, but any list of numbers (or of [id, logit] pairs) on one line."""
    pad, pad1 = " " * indent, " " * (indent + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f"{pad1}{json.dumps(k)}: {dump_json(v, indent + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and any(isinstance(x, dict) for x in obj):
        return "[\n" + ",\n".join(pad1 + dump_json(x, indent + 1) for x in obj) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def logits_summary(np, row, probe_ids):
    """top/probe/mean/std of one row of raw logits (numpy float32)."""
    row = np.asarray(row, dtype=np.float32)
    order = np.argsort(-row, kind="stable")[:N_TOP]  # ties: lower id first
    return {
        "top": [[int(i), r6(row[i])] for i in order],
        "probe": [[int(i), r6(row[i])] for i in probe_ids],
        "mean": r6(row.astype(np.float64).mean()),
        "std": r6(row.astype(np.float64).std()),
    }


def argmax_margin(np, row):
    row = np.asarray(row, dtype=np.float32)
    i = int(np.argmax(row))  # ties: lowest id
    top2 = np.partition(row, -2)[-2:]
    return i, r6(float(top2.max()) - float(top2.min()))


# ---------------------------------------------------------------------------------------------
# GGUF metadata (gguf-py)

def gguf_field_value(field):
    from gguf import GGUFValueType
    types = field.types
    if not types:
        return None
    if types[0] == GGUFValueType.ARRAY:
        if len(types) > 1 and types[1] == GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]
        return [field.parts[i].tolist()[0] for i in field.data]
    if types[0] == GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8", "replace")
    v = field.parts[field.data[0]].tolist()
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def read_gguf(path):
    from gguf import GGUFReader
    reader = GGUFReader(path)
    meta = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        meta[name] = gguf_field_value(field)
    tensors = [(t.name, t.tensor_type.name, [int(d) for d in t.shape]) for t in reader.tensors]
    return meta, tensors


def print_gguf(meta, tensors):
    print("== GGUF metadata (big tokenizer arrays shown by length)")
    for k in sorted(meta):
        v = meta[k]
        if k in BIG_ARRAYS:
            print(f"  {k}: <array of {len(v)}>" + (f" e.g. {v[:3]}" if k == "tokenizer.ggml.merges" else ""))
        elif k == "tokenizer.chat_template":
            print(f"  {k}: {json.dumps(v)}")
        else:
            print(f"  {k}: {v!r}")
    print(f"== GGUF tensors ({len(tensors)}; shape as ggml ne[], fastest dim first)")
    for name, typ, shape in tensors:
        print(f"  {name:32s} {typ:6s} {shape}")
    kinds = {}
    for name, typ, _ in tensors:
        kind = name.split(".", 2)[-1] if name.startswith("blk.") else name
        kinds.setdefault(kind, set()).add(typ)
    print("== tensor types by kind")
    for kind in sorted(kinds):
        print(f"  {kind:24s} {sorted(kinds[kind])}")
    print(f"  output.weight present: {any(n == 'output.weight' for n, _, _ in tensors)}")


def render_chat(template, meta):
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)  # as HF renders it
    toks = meta.get("tokenizer.ggml.tokens") or []
    def tok(key):
        i = meta.get(key)
        return toks[i] if i is not None and i < len(toks) else ""
    return env.from_string(template).render(
        messages=[{"role": "user", "content": CHAT_QUESTION}],
        add_generation_prompt=True,
        bos_token=tok("tokenizer.ggml.bos_token_id"),
        eos_token=tok("tokenizer.ggml.eos_token_id"),
    )


# ---------------------------------------------------------------------------------------------
# llama.cpp side

def build_cases(tokenize, chat_text):
    cases = [
        ("short", "The capital of France is"),
        ("paragraph", PARAGRAPH),
        ("code", "def fibonacci(n):\n"),
        ("chat", chat_text),
    ]
    parts, text = [], ""
    i = 0
    while True:
        parts.append(LONG_PARTS[i % len(LONG_PARTS)])
        text = "\n\n".join(parts)
        if len(tokenize(text)) >= 600:
            break
        i += 1
    cases.append(("long", text))
    cases.append(("one_token", "Hello"))
    out = []
    for name, text in cases:
        ids = tokenize(text)
        out.append({"name": name, "prompt_text": text, "prompt_ids": ids})
    assert len(out[-1]["prompt_ids"]) == 1, out[-1]
    return out


def last_logits(llm, np):
    """Logits of the last token of the last decoded batch, straight from llama_get_logits_ith(-1)
    (with logits_all=False llama-cpp-python does not copy them into llm.scores)."""
    ptr = llm._ctx.get_logits_ith(-1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).astype(np.float32, copy=True)


def new_llama(model, logits_all):
    import llama_cpp
    return llama_cpp.Llama(model_path=model, n_ctx=N_CTX, n_batch=N_BATCH, n_threads=N_THREADS,
                           n_threads_batch=N_THREADS, logits_all=logits_all, seed=0, verbose=False)


def run_llamacpp(model, cases, probe_ids, np):
    llm = new_llama(model, logits_all=False)
    for case in cases:
        ids = case["prompt_ids"]
        t0 = time.time()
        llm.reset()
        llm.eval(ids)
        assert llm.n_tokens == len(ids), (llm.n_tokens, len(ids))
        assert list(llm.input_ids[: llm.n_tokens]) == ids  # exactly prompt_ids, no BOS added
        row = last_logits(llm, np)
        case["_prefill_row"] = row
        res = logits_summary(np, row, probe_ids)
        greedy, margins = [], []
        for step in range(N_GREEDY):
            tok, margin = argmax_margin(np, row)
            greedy.append(tok)
            margins.append(margin)
            if step + 1 < N_GREEDY:
                llm.eval([tok])
                row = last_logits(llm, np)
        res["greedy"] = greedy
        res["greedy_margins"] = margins
        case["llamacpp"] = res
        print(f"llama.cpp {case['name']}: {len(ids)} prompt tokens, {time.time() - t0:.1f}s", file=sys.stderr)
    del llm
    # Cross-check (stdout only): the same prefill with logits_all=True, last row of llm.scores.
    llm = new_llama(model, logits_all=True)
    for case in cases:
        llm.reset()
        llm.eval(case["prompt_ids"])
        alt = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
        case["_logits_all_maxdiff"] = float(np.abs(alt - case.pop("_prefill_row")).max())
    del llm


# ---------------------------------------------------------------------------------------------
# transformers side (separate venv, separate process)

def hf_worker(req_path, resp_path):
    import numpy as np
    import torch
    import transformers
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(N_THREADS)
    transformers.utils.logging.disable_progress_bar()
    with open(req_path) as f:
        req = json.load(f)
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(req["model_dir"], gguf_file=req["gguf_file"],
                                                 dtype=torch.float32)
    model.eval()
    # transformers 5.x renamed past_key_values to cache (kwarg and output field).
    from transformers.modeling_outputs import CausalLMOutputWithPast
    cache_kw = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"
    info = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "config": {k: v for k, v in model.config.to_dict().items()
                   if isinstance(v, (int, float, str, bool, type(None)))},
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "load_seconds": round(time.time() - t0, 1),
    }
    print(f"transformers: loaded in {info['load_seconds']}s, attn={info['attn_implementation']}", file=sys.stderr)
    probe_ids = req["probe_ids"]
    results = {}
    with torch.inference_mode():
        for case in req["cases"]:
            t0 = time.time()
            ids = torch.tensor([case["prompt_ids"]], dtype=torch.long)
            out = model(input_ids=ids, use_cache=True)
            past = getattr(out, cache_kw)
            row = out.logits[0, -1].float().numpy()
            res = logits_summary(np, row, probe_ids)
            at_ll_top = [[i, r6(row[i])] for i in case["llamacpp_top_ids"]]
            greedy, margins = [], []
            for step in range(req["n_greedy"]):
                tok, margin = argmax_margin(np, row)
                greedy.append(tok)
                margins.append(margin)
                if step + 1 < req["n_greedy"]:
                    out = model(input_ids=torch.tensor([[tok]]), use_cache=True, **{cache_kw: past})
                    past = getattr(out, cache_kw)
                    row = out.logits[0, -1].float().numpy()
            res["greedy"] = greedy
            res["greedy_margins"] = margins
            results[case["name"]] = {"result": res, "at_llamacpp_top": at_ll_top}
            print(f"transformers {case['name']}: {time.time() - t0:.1f}s", file=sys.stderr)
    with open(resp_path, "w") as f:
        json.dump({"info": info, "results": results}, f)


def run_hf(hf_python, model, cases, probe_ids):
    with tempfile.TemporaryDirectory() as tmp:
        req = os.path.join(tmp, "req.json")
        resp = os.path.join(tmp, "resp.json")
        with open(req, "w") as f:
            json.dump({
                "model_dir": os.path.dirname(os.path.abspath(model)),
                "gguf_file": os.path.basename(model),
                "probe_ids": probe_ids,
                "n_greedy": N_GREEDY,
                "cases": [{"name": c["name"], "prompt_ids": c["prompt_ids"],
                           "llamacpp_top_ids": [p[0] for p in c["llamacpp"]["top"]]} for c in cases],
            }, f)
        env = dict(os.environ, TQDM_DISABLE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
        p = subprocess.run([hf_python, os.path.abspath(__file__), "--hf-worker", req, resp], env=env)
        if p.returncode != 0 or not os.path.exists(resp):
            print(f"reference.py: transformers worker failed (exit {p.returncode}); transformers: null",
                  file=sys.stderr)
            return None
        with open(resp) as f:
            return json.load(f)


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--out")
    ap.add_argument("--hf-python", help="python of a venv with torch + transformers + gguf")
    ap.add_argument("--hf-worker", nargs=2, metavar=("REQUEST", "RESPONSE"))
    a = ap.parse_args()
    if a.hf_worker:
        hf_worker(*a.hf_worker)
        return
    if not a.model or not a.out:
        ap.error("--model and --out are required")

    import numpy as np
    import llama_cpp

    meta, tensors = read_gguf(a.model)
    print_gguf(meta, tensors)

    llm_tok = llama_cpp.Llama(model_path=a.model, n_ctx=64, vocab_only=True, verbose=False)
    def tokenize(text):
        return list(llm_tok.tokenize(text.encode("utf-8"), add_bos=False, special=True))
    n_vocab = llm_tok.n_vocab()

    template = meta.get("tokenizer.chat_template")
    assert template, "GGUF has no tokenizer.chat_template"
    chat_text = render_chat(template, meta)

    probe_ids = sorted(random.Random(PROBE_SEED).sample(range(n_vocab), N_PROBE))
    cases = build_cases(tokenize, chat_text)
    for c in cases:
        print(f"case {c['name']}: {len(c['prompt_ids'])} tokens", file=sys.stderr)
    tok_fixtures = [{"text": s, "ids": tokenize(s)} for s in TOKENIZE_STRINGS]
    del llm_tok

    run_llamacpp(a.model, cases, probe_ids, np)

    hf = run_hf(a.hf_python, a.model, cases, probe_ids) if a.hf_python else None

    tokens = meta.get("tokenizer.ggml.tokens") or []
    add_bos = meta.get("tokenizer.ggml.add_bos_token")
    bos = meta.get("tokenizer.ggml.bos_token_id")
    bos_text = tokens[bos] if bos is not None and bos < len(tokens) else None
    bos_cases = ", ".join(c["name"] for c in cases if c["prompt_ids"][:1] == [bos])
    notes = (
        f"llama.cpp via llama-cpp-python {llama_cpp.__version__} low-level API: "
        f"Llama(n_ctx={N_CTX}, n_batch={N_BATCH}, n_threads={N_THREADS}, n_threads_batch={N_THREADS}, "
        "logits_all=False, seed=0), other context params default (n_ubatch 512, KV cache type_k/type_v F16, "
        "flash_attn disabled (llama-cpp-python default), CPU backend built with GGML_NATIVE=ON; ggml multiplies "
        "Q4_1 weights with activations quantized to Q8_1 and the Q8_0 (tied) output matrix with Q8_0 activations); "
        f"per case llm.reset() then llm.eval(prompt_ids) (prompts over {N_BATCH} tokens go in {N_BATCH}-token "
        "batches, only each batch's last token gets logits); logits = llama_get_logits_ith(ctx, -1) after "
        "each eval (llm.scores is not filled when logits_all=False). eval() adds no BOS: exactly prompt_ids are evaluated "
        f"(asserted); the GGUF says add_bos_token={add_bos}; the only prompts starting with the BOS id "
        f"({bos}) are those whose text starts with {bos_text!r}: {bos_cases or 'none'}. "
        "prompt_ids and 'tokenize' use llama.cpp's tokenizer with add_bos=False, special=True. "
        f"top = the {N_TOP} largest logits (descending, ties by lower id); probe = logits at "
        f"{N_PROBE} ids = sorted(random.Random({PROBE_SEED}).sample(range(n_vocab={n_vocab}), {N_PROBE})) "
        "(Python's random module); mean/std (population, ddof=0) over all n_vocab raw logits. "
        f"greedy = {N_GREEDY} tokens, each the argmax (lowest id on ties) of the raw logits, fed back one "
        "token per llm.eval([tok]) call (KV cache kept), no sampler/penalties, EOS not treated specially; "
        "greedy_margins[i] = top1 - top2 logit of the row that chose greedy[i]. "
        "chat prompt = GGUF tokenizer.chat_template rendered by jinja2 (sandboxed, trim_blocks and "
        "lstrip_blocks like transformers) for one user message with add_generation_prompt=True. "
        "transformers (when not null): AutoModelForCausalLM.from_pretrained(dir, gguf_file=...) "
        "which dequantizes the GGUF to fp32 (dtype=float32, CPU, "
        f"{N_THREADS} torch threads), one forward over prompt_ids then one token per step with its KV cache. "
        "Floats rounded to 6 significant digits. "
        f"GGUF metadata: general.architecture={meta.get('general.architecture')}, "
        + ", ".join(f"{k}={meta[k]}" for k in sorted(meta)
                    if k.startswith("llama.")) +
        f", tokenizer.ggml.model={meta.get('tokenizer.ggml.model')}, "
        f"tokenizer.ggml.pre={meta.get('tokenizer.ggml.pre')}, "
        + ", ".join(f"{k}={meta[k]}" for k in sorted(meta)
                    if k.startswith("tokenizer.ggml.") and k.endswith("_id")) +
        f", output.weight present={any(n == 'output.weight' for n, _, _ in tensors)} "
        "(absent means the output projection is tied to token_embd.weight)."
    )
    if hf:
        notes += (f" transformers {hf['info']['transformers']}, torch {hf['info']['torch']}, "
                  f"attn_implementation={hf['info']['attn_implementation']}.")

    out_cases = []
    for c in cases:
        out_cases.append({
            "name": c["name"],
            "prompt_ids": c["prompt_ids"],
            "prompt_text": c["prompt_text"],
            "llamacpp": c["llamacpp"],
            "transformers": hf["results"][c["name"]]["result"] if hf else None,
        })
    doc = {
        "model": os.path.basename(a.model),
        "model_sha256": sha256_file(a.model),
        "llama_cpp_python": llama_cpp.__version__,
        "transformers": hf["info"]["transformers"] if hf else None,
        "n_threads": N_THREADS,
        "notes": notes,
        "tokenizer_meta": {
            "model": meta.get("tokenizer.ggml.model"),
            "pre": meta.get("tokenizer.ggml.pre"),
            "bos": meta.get("tokenizer.ggml.bos_token_id"),
            "eos": meta.get("tokenizer.ggml.eos_token_id"),
            "add_bos": add_bos,
            "vocab_size": len(tokens),
            "merges": len(meta.get("tokenizer.ggml.merges") or []),
        },
        "tokenize": tok_fixtures,
        "cases": out_cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".partial", "w", encoding="utf-8") as f:
        f.write(dump_json(doc) + "\n")
    os.replace(a.out + ".partial", a.out)

    # Summary for the report (stdout only).
    print("== summary")
    for c in cases:
        ll = c["llamacpp"]
        line = (f"  {c['name']:10s} n={len(c['prompt_ids']):4d} min greedy margin={min(ll['greedy_margins']):.4g}"
                f" (logits_all=True prefill max|d|={c['_logits_all_maxdiff']:.3g})")
        if hf:
            h = hf["results"][c["name"]]
            ll_top = dict((i, v) for i, v in ll["top"])
            d_top = max(abs(ll_top[i] - v) for i, v in h["at_llamacpp_top"])
            d_probe = max(abs(x[1] - y[1]) for x, y in zip(ll["probe"], h["result"]["probe"]))
            g1, g2 = ll["greedy"], h["result"]["greedy"]
            first = next((k for k in range(len(g1)) if g1[k] != g2[k]), None)
            top1_same = ll["top"][0][0] == h["result"]["top"][0][0]
            line += (f" | HF max|d| top={d_top:.4g} probe={d_probe:.4g} top1 same={top1_same}"
                     f" greedy agree={'yes' if first is None else f'no, first differs at step {first}'}"
                     f" HF min margin={min(h['result']['greedy_margins']):.4g}")
        print(line)
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()

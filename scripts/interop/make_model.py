#!/usr/bin/env python3
"""Create, offline, a tiny random-weight Llama with a real byte-level BPE tokenizer.

Outputs (in OUT_DIR):
  hf/   config.json, generation_config.json, model.safetensors, tokenizer.json,
        tokenizer_config.json, special_tokens_map.json   (for vLLM / transformers)
  tiny-llama.gguf                                        (for llama.cpp)

The model never emits EOS (nor any token outside a set of whole-word tokens, see banned_ids):
hidden dimension 0 of the residual stream is a constant +C set by the embedding and
never written by attention/MLP (their output rows for dim 0 are zero), so after the
final RMSNorm it is always > 0; the LM-head rows of banned tokens have -BIG in that
dimension and 0 elsewhere, so their logits are hugely negative. Output lengths are
therefore exactly max_tokens. Generated tokens are ' <letters>' words that re-tokenize
to themselves, so chunk counts, server usage and re-tokenized counts all agree.

Needs: numpy, tokenizers, gguf, safetensors (no torch).
Usage: make_model.py OUT_DIR [--seed N]
"""
import argparse
import json
import os
import random

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

VOCAB = 32000  # >= 30000: accelbench token-id prompts draw ids in [1000, 30000)
BPE_VOCAB = 2048  # trained merges; the rest are padding tokens without merges
HIDDEN = 256
HEADS = 4
KV_HEADS = 4
HEAD_DIM = HIDDEN // HEADS  # 64: a head size every backend supports
LAYERS = 2
FFN = 512
CTX = 4096
EPS = 1e-5
ROPE_THETA = 10000.0
EOS = "<|endoftext|>"


def corpus(rng, n_lines=20000):
    syll = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "ve", "da", "zen", "qua",
            "bel", "tor", "an", "is", "um", "er", "ox", "yl"]
    words = ["".join(rng.choice(syll) for _ in range(rng.randint(1, 4))) for _ in range(3000)]
    words += ["the", "of", "and", "to", "in", "is", "that", "for", "it", "with", "as",
              "on", "was", "by", "at", "be", "this", "from", "or", "are"]
    punct = [".", ",", "!", "?", ";", ":"]
    for _ in range(n_lines):
        n = rng.randint(5, 30)
        toks = []
        for _ in range(n):
            w = rng.choice(words)
            r = rng.random()
            if r < 0.1:
                w = w.capitalize()
            elif r < 0.15:
                w = str(rng.randint(0, 9999))
            toks.append(w)
            if rng.random() < 0.08:
                toks[-1] += rng.choice(punct)
        yield " ".join(toks)


def train_tokenizer(rng):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(rng), trainer=trainer)
    n = tok.get_vocab_size()
    if VOCAB > n:
        # pad with plain-ASCII vocabulary entries no merge can produce ("Ġ" = space);
        # they decode to " w<N>" and only appear in output or in token-id prompts.
        tj = json.loads(tok.to_str())
        v = tj["model"]["vocab"]
        i = 0
        while len(v) < VOCAB:
            t = "\u0120w%d" % i
            i += 1
            if t not in v:
                v[t] = len(v)
        tok = Tokenizer.from_str(json.dumps(tj))
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    return tok


def banned_ids(tok):
    """Every token except 'retokenization-stable words': tokens of the form
    '\u0120<ASCII letters>' (a space then letters, one GPT-2 pre-token) that encode back
    to exactly themselves. So the generated text, whatever the order of tokens, encodes
    back to the same number of tokens (tools that count output tokens by re-tokenizing
    the text, e.g. vllm bench / AIPerf against servers that send no usage, agree with
    chunk counts and server usage), and every token decodes to complete ASCII."""
    import re
    word = re.compile("^\u0120[A-Za-z]+$")
    allowed = set()
    for t, i in tok.get_vocab().items():
        if word.match(t) and tok.encode(tok.decode([i])).ids == [i]:
            allowed.add(i)
    assert len(allowed) > 100, len(allowed)
    return sorted(set(range(tok.get_vocab_size())) - allowed)


def make_weights(seed, banned):
    g = np.random.default_rng(seed)
    f = np.float32

    def rnd(*shape, scale=0.02):
        return (g.standard_normal(shape) * scale).astype(f)

    C = 8.0
    BIG = 1000.0
    w = {}
    emb = rnd(VOCAB, HIDDEN, scale=1.0)
    emb[:, 0] = C
    w["model.embed_tokens.weight"] = emb
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = np.ones(HIDDEN, f)
        w[p + "post_attention_layernorm.weight"] = np.ones(HIDDEN, f)
        w[p + "self_attn.q_proj.weight"] = rnd(HEADS * HEAD_DIM, HIDDEN, scale=0.2)
        w[p + "self_attn.k_proj.weight"] = rnd(KV_HEADS * HEAD_DIM, HIDDEN, scale=0.2)
        w[p + "self_attn.v_proj.weight"] = rnd(KV_HEADS * HEAD_DIM, HIDDEN, scale=0.2)
        o = rnd(HIDDEN, HEADS * HEAD_DIM, scale=0.1)
        o[0, :] = 0.0  # never write residual dim 0
        w[p + "self_attn.o_proj.weight"] = o
        w[p + "mlp.gate_proj.weight"] = rnd(FFN, HIDDEN, scale=0.1)
        w[p + "mlp.up_proj.weight"] = rnd(FFN, HIDDEN, scale=0.1)
        d = rnd(HIDDEN, FFN, scale=0.1)
        d[0, :] = 0.0
        w[p + "mlp.down_proj.weight"] = d
    w["model.norm.weight"] = np.ones(HIDDEN, f)
    head = rnd(VOCAB, HIDDEN, scale=1.0)
    head[:, 0] = 0.0
    for i in banned:
        head[i, :] = 0.0
        head[i, 0] = -BIG
    w["lm_head.weight"] = head
    return w


def save_hf(out, tok, w, eos_id):
    from safetensors.numpy import save_file
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": VOCAB, "hidden_size": HIDDEN, "intermediate_size": FFN,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "head_dim": HEAD_DIM,
        "max_position_embeddings": CTX, "rms_norm_eps": EPS, "rope_theta": ROPE_THETA,
        "hidden_act": "silu", "tie_word_embeddings": False,
        "bos_token_id": eos_id, "eos_token_id": eos_id, "torch_dtype": "float32",
        "attention_bias": False, "mlp_bias": False,
    }
    json.dump(cfg, open(os.path.join(out, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": eos_id, "eos_token_id": eos_id},
              open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": EOS,
               "eos_token": EOS, "unk_token": EOS, "add_bos_token": False,
               "add_eos_token": False, "model_max_length": CTX,
               "clean_up_tokenization_spaces": False,
               # minimal chat template: concatenated contents
               "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}"},
              open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)
    json.dump({"bos_token": EOS, "eos_token": EOS, "unk_token": EOS},
              open(os.path.join(out, "special_tokens_map.json"), "w"), indent=2)
    save_file(w, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})


def permute(x, n_head):
    # HF rotate_half layout -> llama.cpp interleaved RoPE layout (as convert_hf_to_gguf)
    return x.reshape(n_head, 2, x.shape[0] // n_head // 2, *x.shape[1:]).swapaxes(1, 2).reshape(x.shape)


def save_gguf(path, tok, w, eos_id):
    import gguf
    tj = json.loads(tok.to_str())
    vocab = tj["model"]["vocab"]
    tokens = [None] * VOCAB
    for t, i in vocab.items():
        tokens[i] = t
    for a in tj["added_tokens"]:
        tokens[a["id"]] = a["content"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    types = [gguf.TokenType.CONTROL if t == EOS else gguf.TokenType.NORMAL for t in tokens]

    wr = gguf.GGUFWriter(path, "llama")
    wr.add_name("tiny-random-llama")
    wr.add_context_length(CTX)
    wr.add_embedding_length(HIDDEN)
    wr.add_block_count(LAYERS)
    wr.add_feed_forward_length(FFN)
    wr.add_head_count(HEADS)
    wr.add_head_count_kv(KV_HEADS)
    wr.add_rope_dimension_count(HEAD_DIM)
    wr.add_rope_freq_base(ROPE_THETA)
    wr.add_layer_norm_rms_eps(EPS)
    wr.add_vocab_size(VOCAB)
    wr.add_file_type(gguf.LlamaFileType.ALL_F32)
    wr.add_tokenizer_model("gpt2")
    wr.add_tokenizer_pre("gpt-2")
    wr.add_token_list(tokens)
    wr.add_token_types(types)
    wr.add_token_merges(merges)
    wr.add_bos_token_id(eos_id)
    wr.add_eos_token_id(eos_id)
    wr.add_add_bos_token(False)
    wr.add_add_eos_token(False)
    wr.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")

    wr.add_tensor("token_embd.weight", w["model.embed_tokens.weight"])
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        b = f"blk.{l}."
        wr.add_tensor(b + "attn_norm.weight", w[p + "input_layernorm.weight"])
        wr.add_tensor(b + "attn_q.weight", permute(w[p + "self_attn.q_proj.weight"], HEADS))
        wr.add_tensor(b + "attn_k.weight", permute(w[p + "self_attn.k_proj.weight"], KV_HEADS))
        wr.add_tensor(b + "attn_v.weight", w[p + "self_attn.v_proj.weight"])
        wr.add_tensor(b + "attn_output.weight", w[p + "self_attn.o_proj.weight"])
        wr.add_tensor(b + "ffn_norm.weight", w[p + "post_attention_layernorm.weight"])
        wr.add_tensor(b + "ffn_gate.weight", w[p + "mlp.gate_proj.weight"])
        wr.add_tensor(b + "ffn_up.weight", w[p + "mlp.up_proj.weight"])
        wr.add_tensor(b + "ffn_down.weight", w[p + "mlp.down_proj.weight"])
    wr.add_tensor("output_norm.weight", w["model.norm.weight"])
    wr.add_tensor("output.weight", w["lm_head.weight"])
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1234)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    tok = train_tokenizer(rng)
    eos_id = tok.token_to_id(EOS)
    banned = banned_ids(tok)
    w = make_weights(a.seed, banned)
    save_hf(os.path.join(a.out, "hf"), tok, w, eos_id)
    save_gguf(os.path.join(a.out, "tiny-llama.gguf"), tok, w, eos_id)
    print(json.dumps({"vocab": VOCAB, "eos_id": eos_id, "banned": len(banned),
                      "hf": os.path.join(a.out, "hf"),
                      "gguf": os.path.join(a.out, "tiny-llama.gguf")}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A SentencePiece (llama-style) GGUF tokenizer fixture and its reference tokenizations
(./run.sh interop reference runs it; not part of CI).

Trains a small SentencePiece BPE model (byte fallback, identity normalization, no whitespace
collapsing, as Llama-2's) with the `sentencepiece` package on the repository's docs, writes its
vocabulary as a vocabulary-only GGUF with gguf-py (tokenizer.ggml.model = "llama": pieces,
scores and token types), and tokenizes a set of texts with llama.cpp (llama-cpp-python,
vocab_only) and with sentencepiece itself. Writes the GGUF and a JSON fixture for the Swift
tests. Usage: spm_reference.py OUT_DIR"""
import glob
import json
import os
import sys
import tempfile

import gguf
import llama_cpp
import sentencepiece as spm

out = sys.argv[1]
repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.makedirs(out, exist_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w") as f:
        for p in sorted(glob.glob(os.path.join(repo, "docs", "*.md"))):
            f.write(open(p, encoding="utf-8").read())
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=os.path.join(tmp, "spm"), vocab_size=1000, model_type="bpe", byte_fallback=True,
        character_coverage=0.995, normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, split_digits=True, allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2,
        pad_id=-1, num_threads=1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=os.path.join(tmp, "spm.model"))

n = sp.get_piece_size()
tokens, scores, types = [], [], []
for i in range(n):
    tokens.append(sp.id_to_piece(i))
    scores.append(sp.get_score(i))
    if sp.is_unknown(i):
        types.append(gguf.TokenType.UNKNOWN)
    elif sp.is_control(i):
        types.append(gguf.TokenType.CONTROL)
    elif sp.is_byte(i):
        types.append(gguf.TokenType.BYTE)
    else:
        types.append(gguf.TokenType.NORMAL)

path = os.path.join(out, "tiny-spm.gguf")
w = gguf.GGUFWriter(path, "llama")
w.add_name("tiny-spm (vocabulary only)")
w.add_context_length(512)
w.add_embedding_length(64)
w.add_block_count(1)
w.add_feed_forward_length(128)
w.add_head_count(4)
w.add_head_count_kv(4)
w.add_rope_dimension_count(16)
w.add_layer_norm_rms_eps(1e-5)
w.add_vocab_size(n)
w.add_tokenizer_model("llama")
w.add_token_list(tokens)
w.add_token_scores(scores)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
w.add_add_bos_token(True)
w.add_add_space_prefix(True)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

texts = [
    "Hello world", " leading space", "trailing space ", "two  spaces and   three", "line one\nline two\n\nend",
    "numbers 12345 and 3.14159", "The scheduler is handed now and never reads a clock.", "naïve café déjà vu",
    "日本語のテキスト", "emoji 🙂 and 🚀!", "tabs\tand\tmore", "", " ", "a", "UPPER lower MiXeD",
    "prefill chunks of several requests plus every decode", "x" * 40,
]
llm = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
cases = []
for t in texts:
    ids = llm.tokenize(t.encode("utf-8"), add_bos=True, special=False)
    text_back = llm.detokenize(ids[1:] if ids and ids[0] == 1 else ids).decode("utf-8", errors="replace")
    cases.append({"text": t, "llama_cpp": ids, "sentencepiece": [1] + sp.encode(t), "llama_cpp_detokenized": text_back})
fixture = {"gguf": "tiny-spm.gguf", "vocab_size": n, "llama_cpp_python": llama_cpp.__version__,
           "sentencepiece": spm.__version__, "cases": cases}
with open(os.path.join(out, "tiny-spm-reference.json"), "w") as f:
    json.dump(fixture, f, indent=1, ensure_ascii=False)
    f.write("\n")
agree = sum(c["llama_cpp"] == c["sentencepiece"] for c in cases)
print(f"{path}: {n} pieces; llama.cpp and sentencepiece agree on {agree}/{len(cases)} texts")
for c in cases:
    if c["llama_cpp"] != c["sentencepiece"]:
        print("  differ:", repr(c["text"]), c["llama_cpp"], c["sentencepiece"])

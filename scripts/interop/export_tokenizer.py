#!/usr/bin/env python3
"""Writes a Hugging Face tokenizer directory (tokenizer.json, tokenizer_config.json) from a GGUF's
tokenizer metadata, with transformers' own GGUF conversion, so that clients which load tokenizers
by path (vllm bench, AIPerf, GuideLLM) count tokens as the served model does.
Usage: export_tokenizer.py MODEL.gguf OUT_DIR"""
import os
import sys

from transformers import AutoTokenizer

gguf_path, out = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(gguf_path)), gguf_file=os.path.basename(gguf_path))
tok.save_pretrained(out)
ids = tok("The quick brown fox")["input_ids"]
print(f"{out}: vocabulary {len(tok)}, 'The quick brown fox' -> {ids}")

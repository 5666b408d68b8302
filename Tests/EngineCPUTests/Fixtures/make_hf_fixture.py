"""Writes tiny-llama-hf/: a small random Llama saved by Hugging Face transformers (config.json,
model.safetensors in bfloat16) and expected.json: transformers' own logits (float32 compute)
for a few token sequences. The Swift Hugging Face loader is checked against it.

Run in a venv with torch and transformers:  python make_hf_fixture.py OUT_DIR
"""
import json, sys, torch
from transformers import LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
torch.manual_seed(0)
cfg = LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=10000.0,
                  tie_word_embeddings=False)
model = LlamaForCausalLM(cfg)
with torch.no_grad():
    for p in model.parameters():
        p.normal_(0, 0.2)
model = model.to(torch.bfloat16)
model.save_pretrained(out, safe_serialization=True)
model = LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float32).eval()
cases = [[5, 17, 99, 3, 64, 120, 7], [1], list(range(10, 60))]
expected = []
with torch.no_grad():
    for ids in cases:
        logits = model(torch.tensor([ids])).logits[0, -1].tolist()
        expected.append({"ids": ids, "logits": [round(x, 6) for x in logits]})
json.dump({"transformers": __import__("transformers").__version__, "cases": expected}, open(f"{out}/expected.json", "w"), indent=0)
print("wrote", out)

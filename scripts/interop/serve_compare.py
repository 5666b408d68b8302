#!/usr/bin/env python3
"""What each client reported against `accelbench serve` (serve_clients.sh): requests, median TTFT
and TPOT/ITL, output tokens. Usage: serve_compare.py RESULTS_DIR"""
import json, os, sys

R = sys.argv[1]
rows = []


def load(*p):
    try:
        return json.load(open(os.path.join(R, *p)))
    except (OSError, ValueError):
        return None


s = load("accelbench", "summary.json")
if s:
    rows.append(("accelbench", f"{s['requests']['completed']}/{s['requests']['total']}", s["latency_ms"]["ttft"]["p50"],
                 s["latency_ms"]["tpot"]["p50"], f"tbt p50 {s['latency_ms']['tbt']['p50']}"))
v = load("vbench", "r.json")
if v:
    rows.append(("vllm bench serve", f"{v['completed']}/{v['num_prompts']}", v["median_ttft_ms"], v["median_tpot_ms"],
                 f"itl p50 {v['median_itl_ms']:.3f}; output tokens {v['total_output_tokens']}"))
a = load("aiperf", "profile_export_aiperf.json")
if a:
    rows.append(("AIPerf", f"{a['request_count']['avg']:.0f}", a["time_to_first_token"]["p50"], a["inter_token_latency"]["p50"],
                 f"osl {a['output_sequence_length']['avg']}"))
g = load("guidellm", "benchmarks.json")
if g:
    m = g["benchmarks"][0]["metrics"]
    tot = m["request_totals"]
    rows.append(("GuideLLM 0.8.1", f"{tot['successful']}/{tot['total']}", m["time_to_first_token_ms"]["successful"]["median"],
                 m["time_per_output_token_ms"]["successful"]["median"],
                 f"itl p50 {m['inter_token_latency_ms']['successful']['median']:.3f}; output tokens p50 {m['output_token_count']['successful']['median']}"))
o = load("openai.json")
if o:
    rows.append(("openai SDK (chat stream)", "1/1", o["ttft_ms"], None,
                 f"{o['chunks']} content chunks, {o['words']} words, usage {o['usage']}; non-stream {o['non_stream_text_words']} words"))
print("| client | ok | TTFT p50 ms | TPOT p50 ms | notes |")
print("|---|---|---|---|---|")
for name, ok, t, p, note in rows:
    print(f"| {name} | {ok} | {t:.2f} | {'-' if p is None else f'{p:.3f}'} | {note} |")

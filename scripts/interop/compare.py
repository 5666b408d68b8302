#!/usr/bin/env python3
"""Compare median TTFT/TPOT of accelbench, vllm bench serve and AIPerf in one results dir."""
import json, os, statistics, sys

R = sys.argv[1]
rows = []


def acc(api):
    d = os.path.join(R, "acc-" + api)
    try:
        s = json.load(open(os.path.join(d, "summary.json")))
        rs = [json.loads(l) for l in open(os.path.join(d, "requests.jsonl"))]
    except FileNotFoundError:
        return
    ok = [r for r in rs if r["status"] == "ok"]
    # TTFT from the send time, as the other tools measure it (in a closed loop accelbench's own
    # summary counts from the moment a slot freed, which is within microseconds of the send).
    ttft_sent = statistics.median((r["first_token_s"] - r["sent_s"]) * 1000 for r in ok) if ok else None
    outs = sorted({(r["output_tokens"], r["token_count_source"]) for r in rs})
    prompts = sorted({r["prompt_tokens"] for r in rs})
    rows.append(("accelbench " + api, s["requests"]["completed"], len(rs), ttft_sent,
                 s["latency_ms"]["tpot"]["p50"], f"ttft p50 from intended={s['latency_ms']['ttft']['p50']}; out={outs}; prompt={prompts}"))


acc("completions")
acc("chat")
try:
    v = json.load(open(os.path.join(R, "vbench", "r.json")))
    rows.append(("vllm bench serve", v["completed"], v["num_prompts"], v["median_ttft_ms"], v["median_tpot_ms"],
                 f"out tokens={v['total_output_tokens']} in={v['total_input_tokens']} itl p50={v['median_itl_ms']:.3f}"))
except FileNotFoundError:
    pass
try:
    a = json.load(open(os.path.join(R, "aiperf", "profile_export_aiperf.json")))
    rows.append(("aiperf", a["request_count"]["avg"], a["request_count"]["avg"], a["time_to_first_token"]["p50"],
                 a["inter_token_latency"]["p50"],
                 f"osl={a['output_sequence_length']['avg']} isl={a['input_sequence_length']['avg']} (aiperf ITL = TPOT)"))
except FileNotFoundError:
    pass
json.dump([{"tool": r[0], "ok": r[1], "n": r[2], "ttft_ms": r[3], "tpot_ms": r[4]} for r in rows],
          open(os.path.join(R, "rows.json"), "w"))
ref = next((r for r in rows if r[0] == "accelbench completions"), None)
print(f"| tool | ok/sent | TTFT p50 ms | TPOT p50 ms | ΔTTFT vs acc | ΔTPOT vs acc | notes |")
print("|---|---|---|---|---|---|---|")
for name, ok, n, t, p, note in rows:
    dt = dp = ""
    if ref and ref[3] and t is not None and p is not None:
        dt = f"{(t - ref[3]) / ref[3] * 100:+.1f}%"
        dp = f"{(p - ref[4]) / ref[4] * 100:+.1f}%"
    print(f"| {name} | {ok}/{n} | {t:.2f} | {p:.3f} | {dt} | {dp} | {note} |")

#!/usr/bin/env python3
"""Median over repetitions of each tool's median TTFT and TPOT (rows.json written by compare.py
in RESULTS/NAME-1, NAME-2, ...), with each tool's difference from accelbench's completions run.
Usage: medians.py RESULTS NAME"""
import glob, json, os, statistics, sys

R, name = sys.argv[1], sys.argv[2]
runs = sorted(glob.glob(os.path.join(R, f"{name}-[0-9]*", "rows.json")))
by_tool = {}
for f in runs:
    for row in json.load(open(f)):
        by_tool.setdefault(row["tool"], []).append(row)
print(f"{name}: {len(runs)} repetitions; per tool the median of its per-run medians (min–max)\n")
print("| tool | ok/sent (all runs) | TTFT p50 ms | TPOT p50 ms | ΔTTFT vs acc | ΔTPOT vs acc |")
print("|---|---|---|---|---|---|")
med = {}
for tool, rows in by_tool.items():
    t = [r["ttft_ms"] for r in rows if r["ttft_ms"] is not None]
    p = [r["tpot_ms"] for r in rows if r["tpot_ms"] is not None]
    med[tool] = (statistics.median(t) if t else None, statistics.median(p) if p else None, t, p,
                 sum(r["ok"] for r in rows), sum(r["n"] for r in rows))
ref = med.get("accelbench completions")
for tool, (t, p, ts, ps, ok, n) in med.items():
    dt = dp = ""
    if ref and ref[0] and t is not None and p is not None:
        dt = f"{(t - ref[0]) / ref[0] * 100:+.1f}%"
        dp = f"{(p - ref[1]) / ref[1] * 100:+.1f}%"
    rng = lambda xs, d: f" ({min(xs):.{d}f}–{max(xs):.{d}f})" if len(xs) > 1 else ""
    tt = f"{t:.2f}{rng(ts, 2)}" if t is not None else "-"
    pp = f"{p:.3f}{rng(ps, 3)}" if p is not None else "-"
    print(f"| {tool} | {ok:g}/{n:g} | {tt} | {pp} | {dt} | {dp} |")

#!/usr/bin/env python3
"""Markdown table of `accelbench bench cpu --json` against cpu_peer.py (llama.cpp).

  cpu_table.py [FILE...]     (stdin without FILE)

Reads JSON lines (other lines are skipped) of the shape
  {"tool":..., "threads":..., "kind":"prefill", "tokens":P, "median_ms":..., "tokens_per_s":...}
  {"tool":..., "threads":..., "kind":"decode", "batch":B, "context":C, "median_ms":..., "tokens_per_s":...}
and prints one row per (kind, tokens | batch and context): each tool's median tokens/s over its
runs and the ratio accelbench / llama.cpp (> 1: accelbench is faster).
"""
import json
import statistics
import sys

TOOLS = ("accelbench", "llama.cpp")
KIND_ORDER = {"prefill": 0, "decode": 1}


def key_of(m):
    if m["kind"] == "prefill":
        return ("prefill", int(m["tokens"]), None)
    return (m["kind"], int(m["batch"]), m.get("context"))


def read(lines):
    runs = {}  # key -> tool -> [tokens/s]
    threads = set()
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            m = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(m, dict) or "tool" not in m or "kind" not in m or "tokens_per_s" not in m:
            continue
        runs.setdefault(key_of(m), {}).setdefault(m["tool"], []).append(float(m["tokens_per_s"]))
        if "threads" in m:
            threads.add(m["threads"])
    return runs, threads


def fmt(x):
    return "-" if x is None else f"{x:,.1f}"


def table(runs, threads):
    tools = list(TOOLS) + sorted({t for v in runs.values() for t in v} - set(TOOLS))
    out = []
    if threads:
        out.append(f"threads: {', '.join(str(t) for t in sorted(threads))}")
        out.append("")
    head = ["kind", "size"] + [f"{t} tok/s" for t in tools] + ["accelbench / llama.cpp", "runs"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---", "---:"] + ["---:"] * (len(tools) + 2)) + "|")
    for key in sorted(runs, key=lambda k: (KIND_ORDER.get(k[0], 9), k[0], k[1], k[2] or 0)):
        kind, n, ctx = key
        size = f"P={n}" if kind == "prefill" else f"B={n}" + (f", C={ctx}" if ctx is not None else "")
        med = {t: statistics.median(v) for t, v in runs[key].items() if v}
        a, l = med.get("accelbench"), med.get("llama.cpp")
        ratio = f"{a / l:.2f}x" if a is not None and l else "-"
        counts = "/".join(str(len(runs[key].get(t, []))) for t in tools)
        out.append("| " + " | ".join([kind, size] + [fmt(med.get(t)) for t in tools] + [ratio, counts]) + " |")
    return "\n".join(out)


def main():
    lines = []
    if len(sys.argv) > 1:
        for path in sys.argv[1:]:
            with open(path) as f:
                lines.extend(f)
    else:
        lines = sys.stdin.readlines()
    runs, threads = read(lines)
    if not runs:
        print("cpu_table: no measurements in the input", file=sys.stderr)
        return 1
    print(table(runs, threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())

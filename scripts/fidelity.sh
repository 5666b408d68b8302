#!/usr/bin/env bash
# Simulator fidelity on this machine (issue 17, Vidur's claim): calibrate a profile on the CPU
# engine, run one workload for real (--engine cpu) and simulated with that profile, and compare
# TTFT and TBT p50/p99 and throughput.
# Usage: scripts/fidelity.sh [SPEC] [COUNT] [RATE] [POLICY]   (defaults: workloads/smoke.yaml 40 1 sarathi)
# Needs the release build (swift build -c release) and the model (scripts/install-model.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-workloads/smoke.yaml}; count=${2:-40}; rate=${3:-1}; policy=${4:-sarathi}
B=.build/release/accelbench
[ -x "$B" ] || { echo "fidelity: build first: swift build -c release" >&2; exit 1; }
out=${FIDELITY_OUT:-results/fidelity}
mkdir -p "$out"
[ -f "$out/cpu-profile.json" ] || "$B" profile calibrate --engine cpu -o "$out/cpu-profile.json"
"$B" generate "$spec" --count "$count" --rate "$rate" -o "$out/workload.jsonl" >/dev/null
"$B" run --engine cpu --workload "$out/workload.jsonl" --policy "$policy" -o "$out/real" >/dev/null || true
"$B" run --engine sim --profile "$out/cpu-profile.json" --workload "$out/workload.jsonl" --policy "$policy" -o "$out/sim" >/dev/null || true
python3 - "$out/real/summary.json" "$out/sim/summary.json" <<'PY'
import json, sys
real, sim = (json.load(open(p)) for p in sys.argv[1:3])
rows = [("TTFT p50 (ms)", ("latency_ms", "ttft", "p50"), 0.10), ("TTFT p99 (ms)", ("latency_ms", "ttft", "p99"), 0.10),
        ("TBT p50 (ms)", ("latency_ms", "tbt", "p50"), 0.10), ("TBT p99 (ms)", ("latency_ms", "tbt", "p99"), 0.10),
        ("throughput (output tok/s)", ("throughput", "output_tokens_per_s"), 0.05)]
print("| metric | real | simulated | difference | goal |\n|---|---:|---:|---:|---:|")
for name, path, goal in rows:
    r, s = real, sim
    for k in path: r, s = r[k], s[k]
    diff = (s - r) / r if r else float("nan")
    print(f"| {name} | {r:.1f} | {s:.1f} | {diff:+.1%} | ±{goal:.0%} |")
PY

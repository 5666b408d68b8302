#!/usr/bin/env bash
# Simulator fidelity on this machine (issue 17, Vidur's claim): calibrate a profile on the CPU
# engine, run one workload for real (--engine cpu) REPEAT times and once simulated with that
# profile, and compare TTFT and TBT p50/p99 and throughput. The real runs' spread is printed
# beside the difference: on a shared VM it is the floor under any simulator's error.
# Also prints the time model's per-iteration error: each real iteration's measured time against
# the calibrated profile's prediction for the same plan (`predicted_s` in iterations.jsonl).
# Usage: scripts/fidelity.sh [SPEC] [COUNT] [RATE] [POLICY] [REPEAT]
#        (defaults: workloads/smoke.yaml 40 1 sarathi 3)
# Needs the release build (swift build -c release) and the model (scripts/install-model.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-workloads/smoke.yaml}; count=${2:-40}; rate=${3:-1}; policy=${4:-sarathi}; repeat=${5:-3}
B=.build/release/accelbench
[ -x "$B" ] || { echo "fidelity: build first: swift build -c release" >&2; exit 1; }
out=${FIDELITY_OUT:-results/fidelity}
mkdir -p "$out"
[ -f "$out/cpu-profile.json" ] || "$B" profile calibrate --engine cpu -o "$out/cpu-profile.json"
"$B" generate "$spec" --count "$count" --rate "$rate" -o "$out/workload.jsonl" >/dev/null
reals=()
for i in $(seq 1 "$repeat"); do
  "$B" run --engine cpu --profile "$out/cpu-profile.json" --workload "$out/workload.jsonl" --policy "$policy" -o "$out/real-$i" >/dev/null || true
  reals+=("$out/real-$i")
done
"$B" run --engine sim --profile "$out/cpu-profile.json" --workload "$out/workload.jsonl" --policy "$policy" -o "$out/sim" >/dev/null || true
python3 - "$out/sim" "${reals[@]}" <<'PY'
import json, statistics, sys
sim_dir, real_dirs = sys.argv[1], sys.argv[2:]
sim = json.load(open(sim_dir + "/summary.json"))
reals = [json.load(open(d + "/summary.json")) for d in real_dirs]
rows = [("TTFT p50 (ms)", ("latency_ms", "ttft", "p50"), 0.10), ("TTFT p99 (ms)", ("latency_ms", "ttft", "p99"), 0.10),
        ("TBT p50 (ms)", ("latency_ms", "tbt", "p50"), 0.10), ("TBT p99 (ms)", ("latency_ms", "tbt", "p99"), 0.10),
        ("throughput (output tok/s)", ("throughput", "output_tokens_per_s"), 0.05)]
def get(d, path):
    for k in path: d = d[k]
    return d
print(f"{len(reals)} real runs, 1 simulated\n")
print("| metric | real (median) | real (min–max) | simulated | sim vs real median | real spread | goal |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, path, goal in rows:
    r = [get(x, path) for x in reals]
    m, s = statistics.median(r), get(sim, path)
    spread = (max(r) - min(r)) / m if m else float("nan")
    print(f"| {name} | {m:.1f} | {min(r):.1f}–{max(r):.1f} | {s:.1f} | {(s - m) / m:+.1%} | {spread:.1%} | ±{goal:.0%} |")
# The time model alone: measured against predicted, per iteration of the real runs.
ratios, busy, pred = [], 0.0, 0.0
for d in real_dirs:
    for line in open(d + "/iterations.jsonl"):
        it = json.loads(line)
        if it.get("predicted_s"):
            ratios.append(it["predicted_s"] / it["duration_s"])
            busy += it["duration_s"]; pred += it["predicted_s"]
if ratios:
    ratios.sort()
    q = lambda f: ratios[min(len(ratios) - 1, int(f * len(ratios)))]
    print(f"\ntime model per iteration (predicted / measured, {len(ratios)} iterations): p10 {q(0.1):.2f}, "
          f"median {q(0.5):.2f}, p90 {q(0.9):.2f}; busy time predicted / measured {pred / busy:.3f}")
PY

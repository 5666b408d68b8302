#!/usr/bin/env bash
# SLO attainment of sarathi and accelgen (or POLICIES) on one shipped workload, at multiples of
# its own mean rate: the check that accelgen is never worse than sarathi by more than 2 points.
#   scripts/policy_sweep.sh WORKLOAD [extra run flags, e.g. --profile h100-llama3.1-8b]
# COUNT (default 1500): the first requests of the workload; FACTORS: the rate multiples.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${B:-.build/release/accelbench}
w=$1; shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nominal=$("$B" generate "workloads/$w.yaml" -o "$tmp/w.jsonl" --stats | sed -n 's/.*offered \([0-9.]*\) req\/s.*/\1/p')
for f in ${FACTORS:-0.25 0.5 0.75 1 1.25 1.5 2 3}; do
    r=$(awk -v n="$nominal" -v f="$f" 'BEGIN { printf "%.4f", n * f }')
    line="$w x$f ($r req/s):"
    for p in ${POLICIES:-sarathi accelgen}; do
        a=$("$B" run --spec "workloads/$w.yaml" --rate "$r" --count "${COUNT:-1500}" --policy "$p" "$@" --json -o "$tmp/$p" \
            | grep -o '"slo_attainment":{"overall":[0-9.e-]*' | head -1 | cut -d: -f3)
        line="$line $p $(awk -v a="$a" 'BEGIN { printf "%.1f%%", a * 100 }')"
    done
    echo "$line"
done

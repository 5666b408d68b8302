#!/usr/bin/env bash
# Byte-identity check of the simulated engine: every shipped workload under every policy (first
# COUNT requests, the spec's own seed and rate, on the default profile; *-short workloads on the
# 4K-context h100-llama2-7b, as ./run.sh baselines) must give the summary.json, requests.jsonl and
# iterations.jsonl whose SHA-256 sums are committed in baselines/identical.sha256. The sums were
# made before the issue-15 redesign; a refactoring that changes a byte fails here.
#   scripts/check-identical.sh BINARY           check
#   scripts/check-identical.sh BINARY update    rewrite baselines/identical.sha256
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1 mode=${2:-check}
COUNT=300
POLICIES=(vllm sarathi edf accelgen)
ref=baselines/identical.sha256
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
jobs=()
for spec in workloads/*.yaml; do
    for p in "${POLICIES[@]}"; do jobs+=("$spec $p"); done
done
# Two AccelGen ablations and prefix caching, so the options' paths are covered too.
jobs+=("workloads/mixed-slo.yaml accelgen --no-dynamic-chunking" "workloads/mixed-slo.yaml accelgen --no-slo-ordering"
       "workloads/mixed-slo.yaml sarathi --prefix-caching")
printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 sh -c '
    name=$(basename "$0" .yaml)-$1$(echo " $2" | tr -d " ")
    prof=""; case $name in *-short-*) prof="--profile h100-llama2-7b" ;; esac
    "'"$bin"'" run --spec "$0" --count '"$COUNT"' --policy "$1" $2 $prof --json -o "'"$tmp"'/$name" >/dev/null 2>"'"$tmp"'/$name.err" \
        || { echo "exit $? for $0 $1 $2" >>"'"$tmp"'/$name.err"; cat "'"$tmp"'/$name.err" >&2; }'
# The fleet (its fast path included), the oracle's report (less the solver's seconds) and its
# feasible schedule, and that schedule replayed.
"$bin" cluster --spec workloads/interactive-batch.yaml --count 2000 --autoscaler chiron --min-instances 1 --max-instances 4 \
    -o "$tmp/cluster-chiron" >/dev/null
"$bin" cluster --spec workloads/interactive-batch-bursty.yaml --count 2000 --autoscaler llumnix --min-instances 1 --max-instances 4 \
    -o "$tmp/cluster-llumnix" >/dev/null
mkdir -p "$tmp/oracle"
"$bin" oracle --spec workloads/mixed-slo.yaml --count 200 --rate 8 --schedule-out "$tmp/oracle/schedule.json" \
    -o "$tmp/oracle/report.json" >/dev/null
sed 's/"seconds":[0-9.e+-]*,//' "$tmp/oracle/report.json" >"$tmp/oracle/report-without-seconds.json"
"$bin" run --spec workloads/mixed-slo.yaml --count 200 --rate 8 --replay-schedule "$tmp/oracle/schedule.json" --json -o "$tmp/replay" >/dev/null
: >"$tmp/sums"
for d in $(ls -d "$tmp"/*/ | sort); do
    name=$(basename "$d")
    case $name in
        cluster-*) files="summary.json requests.jsonl timeline.jsonl" ;;
        oracle) files="schedule.json report-without-seconds.json" ;;
        *) files="summary.json requests.jsonl iterations.jsonl" ;;
    esac
    for f in $files; do
        [ -f "$d/$f" ] || { echo "check-identical: $name/$f missing" >&2; exit 1; }
        echo "$(sha256sum <"$d/$f" | cut -d' ' -f1)  $name/$f" >>"$tmp/sums"
    done
done
if [ "$mode" = update ]; then
    cp "$tmp/sums" "$ref"
    echo "check-identical: wrote $(wc -l <"$ref") sums to $ref"
elif ! diff -u "$ref" "$tmp/sums" >&2; then
    echo "check-identical: simulated runs are no longer byte-identical to $ref" >&2
    exit 2
else
    echo "checks: $(wc -l <"$ref") result files (every shipped workload x ${POLICIES[*]}, ablations, prefix caching, fleet, oracle, replay) byte-identical to $ref"
fi

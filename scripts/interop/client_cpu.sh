#!/usr/bin/env bash
# The load generator's CPU per request, for one or more accelbench binaries side by side
# (issue 16, item 27; not part of CI). The mock server runs on core 0 and each binary's `run` on
# core 1, alternating, ROUNDS times (default 3): constant RATE req/s for 5 s, 16-token prompts,
# 4 output tokens, 1 ms TTFT and TBT. Prints per run the sending thread's share of a core (the
# runner's own measure, spinning excluded), the whole process's user and system CPU per request
# (/usr/bin/time) and the dispatch lag.
# Usage: scripts/interop/client_cpu.sh RATE BINARY...   (e.g. 5000 /tmp/old/accelbench .build/release/accelbench)
set -euo pipefail
RATE=$1; shift
[ $# -gt 0 ] || { echo "usage: client_cpu.sh RATE BINARY..." >&2; exit 64; }
ROUNDS=${ROUNDS:-3}
R=$(mktemp -d); trap 'kill $MOCK 2>/dev/null; rm -rf "$R"' EXIT
N=$((RATE * 5))
taskset -c 0 "$1" mock-server --port 8405 --ttft 0.001 --tbt 0.001 > "$R/mock.log" 2>&1 &
MOCK=$!
for _ in $(seq 1 50); do curl -sf http://127.0.0.1:8405/health >/dev/null && break; sleep 0.1; done
cat > "$R/s.yaml" <<YAML
name: client-cpu
seed: 1
count: $N
arrival: {process: constant, rate: $RATE}
classes:
  - {name: c, kind: interactive, share: 1, prompt: {dist: fixed, value: 16}, output: {dist: fixed, value: 4}}
YAML
for round in $(seq 1 "$ROUNDS"); do
  for b in "$@"; do
    /usr/bin/time -f "%U %S" -o "$R/time" taskset -c 1 "$b" run --endpoint http://127.0.0.1:8405 --model mock \
      --spec "$R/s.yaml" --max-lag 1000000 -o "$R/out" > "$R/run.log" 2>&1 || true
    python3 - "$b" "$N" "$R" "$round" <<'PY'
import json, re, sys
b, n, R, rnd = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
u, s = map(float, open(R + "/time").read().split()[-2:])
lag = json.load(open(R + "/out/summary.json"))["dispatch_lag_ms"]
m = re.search(r"client thread (\d+)% of a core", open(R + "/run.log").read())
share = m.group(1) + "%" if m else "?"
print(f"round {rnd} {b}: thread {share} of a core; CPU per request user {u / n * 1e6:.0f} µs + sys {s / n * 1e6:.0f} µs; "
      f"lag p50 {lag['p50']} ms, p99 {lag['p99']} ms")
PY
  done
done

#!/usr/bin/env bash
# Aggregate delivered rate of 1, 2 and 4 segments (run --segment i/N --start-at T) against one
# mock server on this machine, then merged (./run.sh interop segments [RATE [COUNT]]). Prints, per
# split, the merged achieved rate (requests over the span of their send times), the merge's
# dispatch-lag p99, and each segment's achieved rate and lag p99.
# The mock server and the segments share the machine's cores: on 2 cores this measures how the
# split behaves, not how far N hosts go (each host has its own cores and source IP).
set -uo pipefail
RATE=${1:-4000}; COUNT=${2:-40000}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
B=${ACCELBENCH:-$REPO/.build/release/accelbench}
W=$(mktemp -d)
trap 'kill $MOCK 2>/dev/null; rm -rf "$W"' EXIT
"$B" mock-server --port 0 --ttft 0.001 --tbt 0.001 > "$W/mock.log" 2>&1 &
MOCK=$!
for _ in $(seq 1 50); do grep -q 127.0.0.1 "$W/mock.log" && break; sleep 0.1; done
PORT=$(grep -o '127.0.0.1:[0-9]*' "$W/mock.log" | head -1 | cut -d: -f2)
cat > "$W/w.yaml" <<YAML
name: segments-bench
seed: 1
count: $COUNT
arrival: {process: constant, rate: $RATE}
classes:
  - {name: c, kind: interactive, share: 1, prompt: {dist: fixed, value: 16}, output: {dist: fixed, value: 4}}
YAML
echo "rate $RATE req/s, $COUNT requests (16 prompt, 4 output tokens), mock server on 127.0.0.1:$PORT"
for N in 1 2 4; do
  START=$(python3 -c 'import time; print(f"{time.time() + 2:.3f}")')
  for i in $(seq 0 $((N - 1))); do
    "$B" run --endpoint "http://127.0.0.1:$PORT" --model mock --spec "$W/w.yaml" \
      --segment "$i/$N" --start-at "$START" --max-lag 1000000 --json -o "$W/n$N-s$i" > "$W/n$N-s$i.json" 2>/dev/null &
  done
  wait $(jobs -p | grep -v "^$MOCK$") 2>/dev/null
  "$B" merge $(for i in $(seq 0 $((N - 1))); do echo "$W/n$N-s$i"; done) -o "$W/n$N" --json > "$W/n$N.json" 2>/dev/null
  python3 - "$W" "$N" <<'PY'
import json, sys
w, n = sys.argv[1], int(sys.argv[2])
def achieved(d):
    sent = [json.loads(l)["sent_s"] for l in open(f"{d}/requests.jsonl") if l.strip()]
    sent = [s for s in sent if s is not None]
    return (len(sent) - 1) / (max(sent) - min(sent)) if len(sent) > 1 else 0
m = json.load(open(f"{w}/n{n}.json"))
parts = []
for i in range(n):
    s = json.load(open(f"{w}/n{n}-s{i}.json"))
    parts.append(f"{achieved(f'{w}/n{n}-s{i}'):.0f} req/s lag p99 {s['dispatch_lag_ms']['p99']:.2f} ms")
print(f"{n} segment(s): merged {achieved(f'{w}/n{n}'):.0f} req/s, lag p99 {m['dispatch_lag_ms']['p99']:.2f} ms, "
      f"{m['requests']['completed']}/{m['requests']['total']} ok, valid {m['valid']}; segments: " + "; ".join(parts))
PY
done

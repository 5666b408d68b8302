#!/usr/bin/env bash
# Rate ramp against accelbench's mock server: the highest constant request rate at which each
# load generator (accelbench, AIPerf, GuideLLM) still sends at the offered rate (within 2%) with
# send lag p99 <= 5 ms. Every tool gets the same server (core 0), the same core (1), the same
# request shape (16-token prompt, 4 output tokens, 1 ms TTFT and TBT) and the same analysis
# (ramp_analyze.py reads each tool's per-request send times). A tool stops at its first miss.
# Usage: ramp.sh [RATES...]   (default 25 50 100 250 500 1000 2000 4000 ... 15000; 5 s per
#        step, RAMP_SECONDS to change; RAMP_TOOLS="accelbench aiperf guidellm" to choose)
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
H=${INTEROP_DIR:-$REPO/.interop}
ACC=${ACCELBENCH:-$REPO/.build/release/accelbench}
SECONDS_PER_STEP=${RAMP_SECONDS:-5}
RATES=("$@"); [ ${#RATES[@]} -gt 0 ] || RATES=(25 50 100 250 500 1000 2000 4000 6000 8000 10000 12000 15000)
PY=${PYTHON:-python3}
R=$H/results/ramp; mkdir -p "$R"
log() { echo "[$(date +%T)] $*"; }

# Tools (own venvs; AIPerf and GuideLLM pin different dependency sets) and a tokenizer directory.
if [ ! -x "$H/venv-tools/bin/python" ]; then
  $PY -m venv "$H/venv-tools"; "$H/venv-tools/bin/pip" install -q numpy tokenizers gguf safetensors
fi
[ -f "$H/model/hf/tokenizer.json" ] || "$H/venv-tools/bin/python" "$HERE/make_model.py" "$H/model"
[ -x "$H/venv-aiperf/bin/aiperf" ] || { $PY -m venv "$H/venv-aiperf"; "$H/venv-aiperf/bin/pip" install -q aiperf; }
[ -x "$H/venv-guidellm/bin/guidellm" ] || { $PY -m venv "$H/venv-guidellm"; "$H/venv-guidellm/bin/pip" install -q 'guidellm==0.8.1'; }
TOK=$H/model/hf

PORT=8400; URL=http://127.0.0.1:$PORT
taskset -c 0 "$ACC" mock-server --port $PORT --ttft 0.001 --tbt 0.001 > "$R/mock.log" 2>&1 &
MOCK=$!
trap 'kill $MOCK 2>/dev/null; wait $MOCK 2>/dev/null' EXIT
for _ in $(seq 1 50); do curl -sf $URL/health >/dev/null && break; sleep 0.1; done
C="taskset -c 1"

run_acc() { # rate dir
  local n; n=$(awk -v r="$1" -v s="$SECONDS_PER_STEP" 'BEGIN{printf "%d", r*s}')
  cat > "$2.yaml" <<YAML
name: ramp
seed: 1
count: $n
arrival: {process: constant, rate: $1}
classes:
  - {name: c, kind: interactive, share: 1, prompt: {dist: fixed, value: 16}, output: {dist: fixed, value: 4}}
YAML
  # RAMP_ACC_FLAGS: extra run flags (e.g. --http-client curl to ramp the libcurl client).
  $C "$ACC" run --endpoint $URL --model mock --spec "$2.yaml" --max-lag 1000000 ${RAMP_ACC_FLAGS:-} -o "$2" > "$2.log" 2>&1
}
run_aiperf() {
  local n; n=$(awk -v r="$1" -v s="$SECONDS_PER_STEP" 'BEGIN{printf "%d", r*s}')
  $C "$H/venv-aiperf/bin/aiperf" profile --model mock --url $URL --endpoint-type completions --streaming \
    --synthetic-input-tokens-mean 16 --synthetic-input-tokens-stddev 0 --output-tokens-mean 4 --output-tokens-stddev 0 \
    --request-rate "$1" --arrival-pattern constant --request-count "$n" --tokenizer "$TOK" --random-seed 1 \
    --ui-type none --no-gpu-telemetry --no-server-metrics --export-level records --artifact-dir "$2" > "$2.log" 2>&1
}
run_guidellm() {
  $C "$H/venv-guidellm/bin/guidellm" run --backend kind=openai_http,target=$URL,model=mock,request_format=/v1/completions \
    --profile kind=constant,rate="$1" --constraint kind=max_duration,seconds="$SECONDS_PER_STEP" \
    --data kind=synthetic_text,prompt_tokens=16,output_tokens=4 --tokenizer kind=huggingface_auto,model="$TOK" \
    --output kind=json,path="$2/benchmarks.json" > "$2.log" 2>&1
}

for tool in ${RAMP_TOOLS:-accelbench aiperf guidellm}; do
  for rate in "${RATES[@]}"; do
    d=$R/$tool-$rate; rm -rf "$d" "$d.log"; mkdir -p "$d"
    log "$tool at $rate req/s"
    case $tool in accelbench) run_acc "$rate" "$d" ;; aiperf) run_aiperf "$rate" "$d" ;; guidellm) run_guidellm "$rate" "$d" ;; esac
    echo "  rc=$?"
    verdict=$($PY "$HERE/ramp_analyze.py" one "$tool" "$rate" "$d")
    echo "  $verdict"
    case $verdict in PASS*) ;; *) break ;; esac
  done
done
$PY "$HERE/ramp_analyze.py" table "$R" | tee "$R/table.md"

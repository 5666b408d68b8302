#!/usr/bin/env bash
# Third-party clients against `accelbench serve` (./run.sh interop serve [sim|cpu|all]): vllm bench
# serve, AIPerf, GuideLLM and the openai Python SDK (streaming chat), plus accelbench's own client,
# all with one shape per engine. serve_compare.py prints what each reported.
#   sim: the simulated GPU (default profile, accelgen policy), 128-token prompts, 32 output tokens,
#        Poisson 4 req/s, 40 requests; the clients count prompt tokens with the tiny model's
#        tokenizer, the server counts words.
#   cpu: the real CPU engine with SmolLM2-135M-Instruct (./run.sh installs it), 128-token prompts,
#        32 output tokens, Poisson 1 req/s, 20 requests (server on core 0 with one thread, clients
#        on core 1); the clients count tokens with SmolLM2's own tokenizer, exported from the GGUF
#        by transformers (export_tokenizer.py), so both sides count the same tokens.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
H=${INTEROP_DIR:-$REPO/.interop}
ACC=${ACCELBENCH:-$REPO/.build/release/accelbench}
WHICH=${1:-all}
PY=${PYTHON:-python3}
log() { echo "[$(date +%T)] $*"; }

# Tools (shared with the other interop scripts) and the tokenizer directories.
if [ ! -x "$H/venv-tools/bin/python" ]; then
  $PY -m venv "$H/venv-tools"; "$H/venv-tools/bin/pip" install -q numpy tokenizers gguf safetensors
fi
"$H/venv-tools/bin/python" -c 'import openai' 2>/dev/null || "$H/venv-tools/bin/pip" install -q openai
[ -f "$H/model/hf/tokenizer.json" ] || "$H/venv-tools/bin/python" "$HERE/make_model.py" "$H/model"
[ -x "$H/venv-aiperf/bin/aiperf" ] || { $PY -m venv "$H/venv-aiperf"; "$H/venv-aiperf/bin/pip" install -q aiperf; }
[ -x "$H/venv-guidellm/bin/guidellm" ] || { $PY -m venv "$H/venv-guidellm"; "$H/venv-guidellm/bin/pip" install -q 'guidellm==0.8.1'; }
if ! "$H/venv-vllm/bin/python" -c 'import vllm' 2>/dev/null; then
  echo "vllm bench needs .interop/venv-vllm: run ./run.sh interop vllm first" >&2
fi
if [[ $WHICH == cpu || $WHICH == all ]]; then
  GGUF=$(bash "$REPO/scripts/install-model.sh" --print-path)
  if [ ! -f "$H/model/smollm2-hf/tokenizer.json" ]; then
    "$H/venv-hf/bin/python" -c 'import transformers, gguf' 2>/dev/null \
      || { echo "the SmolLM2 tokenizer is exported with .interop/venv-hf: run ./run.sh interop reference first" >&2; exit 1; }
    "$H/venv-hf/bin/python" "$HERE/export_tokenizer.py" "$GGUF" "$H/model/smollm2-hf"
  fi
fi

# run_clients ENGINE: start the server for ENGINE, run every client against it, print the table.
run_clients() {
  local ENGINE=$1
  R=$H/results/serve-$ENGINE; rm -rf "$R"; mkdir -p "$R"
  if [ "$ENGINE" = cpu ]; then
    TOK=$H/model/smollm2-hf; MODEL=smollm2; RATE=1; COUNT=20
    SERVE=(taskset -c 0 "$ACC" serve --engine cpu --threads 1 --model $MODEL --policy sarathi)
  else
    TOK=$H/model/hf; MODEL=tiny; RATE=4; COUNT=40
    SERVE=(taskset -c 0 "$ACC" serve --model $MODEL --policy accelgen)
  fi
  PORT=8300; URL=http://127.0.0.1:$PORT
  "${SERVE[@]}" --port $PORT > "$R/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 300); do curl -sf $URL/health >/dev/null && break; sleep 0.1; done
  C="taskset -c 1"

log "accelbench"
cat > "$R/shape.yaml" <<YAML
name: serve-interop
seed: 1
count: $COUNT
arrival: {process: poisson, rate: $RATE}
classes:
  - {name: c, kind: interactive, share: 1, prompt: {dist: fixed, value: 128}, output: {dist: fixed, value: 32}}
YAML
$C "$ACC" run --endpoint $URL --model $MODEL --spec "$R/shape.yaml" --prompt-format tokens -o "$R/accelbench" > "$R/accelbench.log" 2>&1
echo "  rc=$?"
log "vllm bench serve"
$C "$H/venv-vllm/bin/python" "$HERE/vbench.py" bench serve --backend openai --base-url $URL --endpoint /v1/completions \
  --model $MODEL --tokenizer "$TOK" --dataset-name random --random-input-len 128 --random-output-len 32 \
  --random-range-ratio 0 --num-prompts $COUNT --request-rate $RATE --seed 1 --ignore-eos \
  --save-result --result-dir "$R/vbench" --result-filename r.json > "$R/vbench.log" 2>&1
echo "  rc=$?"
log "AIPerf"
$C "$H/venv-aiperf/bin/aiperf" profile --model $MODEL --url $URL --endpoint-type completions --streaming \
  --synthetic-input-tokens-mean 128 --synthetic-input-tokens-stddev 0 --output-tokens-mean 32 --output-tokens-stddev 0 \
  --request-rate $RATE --request-count $COUNT --tokenizer "$TOK" --extra-inputs ignore_eos:true --random-seed 1 \
  --ui-type none --no-gpu-telemetry --no-server-metrics --artifact-dir "$R/aiperf" > "$R/aiperf.log" 2>&1
echo "  rc=$?"
log "GuideLLM"
mkdir -p "$R/guidellm"
$C "$H/venv-guidellm/bin/guidellm" run --backend kind=openai_http,target=$URL,model=$MODEL,request_format=/v1/completions \
  --profile kind=poisson,rate=$RATE --constraint kind=max_requests,count=$COUNT \
  --data kind=synthetic_text,prompt_tokens=128,output_tokens=32 --tokenizer kind=huggingface_auto,model="$TOK" \
  --output kind=json,path="$R/guidellm/benchmarks.json" > "$R/guidellm.log" 2>&1
echo "  rc=$?"
log "openai SDK"
$C "$H/venv-tools/bin/python" - "$URL" "$MODEL" > "$R/openai.json" 2> "$R/openai.log" <<'PY'
import json, sys, time
from openai import OpenAI
client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="none")
t0 = time.perf_counter()
stream = client.chat.completions.create(model=sys.argv[2], messages=[{"role": "user", "content": "say thirty two words please"}],
                                        max_tokens=32, stream=True, stream_options={"include_usage": True})
chunks, text, usage, first = 0, "", None, None
for c in stream:
    if c.choices and c.choices[0].delta.content:
        chunks += 1
        text += c.choices[0].delta.content
        first = first or time.perf_counter()
    if c.usage:
        usage = c.usage.model_dump()
r = client.completions.create(model=sys.argv[2], prompt="one two three", max_tokens=5)
print(json.dumps({"chunks": chunks, "words": len(text.split()), "usage": usage, "ttft_ms": (first - t0) * 1000,
                  "total_ms": (time.perf_counter() - t0) * 1000, "non_stream_text_words": len(r.choices[0].text.split()),
                  "non_stream_usage": r.usage.model_dump()}))
PY
echo "  rc=$?"
curl -s $URL/metrics > "$R/metrics.txt"
kill -INT $SERVER 2>/dev/null; wait $SERVER 2>/dev/null
$PY "$HERE/serve_compare.py" "$R" | tee "$R/table.md"
}

for e in sim cpu; do
  if [[ $WHICH == "$e" || $WHICH == all ]]; then log "== $e engine"; run_clients $e; fi
done

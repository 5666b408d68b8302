#!/usr/bin/env bash
# Multi-turn sessions against real servers (./run.sh interop sessions; not part of CI): vLLM's CPU
# build (prefix caching on, its default) and llama.cpp's server (llama-cpp-python), each with
# accelbench run --server-metrics. Prints each server's prefix-cache hit rate over the run as its
# own /metrics reports it, and accelbench's per-turn table. Reuses the venvs and the tiny model of
# run_interop.sh (run `./run.sh interop vllm` or `llama` once first to make them).
# Usage: scripts/interop/sessions.sh [vllm|llama|all]
set -uo pipefail
WHAT=${1:-all}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
H=${INTEROP_DIR:-$REPO/.interop}
ACC=${ACCELBENCH:-$REPO/.build/release/accelbench}
VV=${VENV_VLLM:-$H/venv-vllm}; VL=${VENV_LLAMA:-$H/venv-llama}
TOK=$H/model/hf/tokenizer.json
R=$H/results/sessions; mkdir -p "$R"
log() { echo "[$(date +%T)] $*"; }
SERVER_PID=
cleanup() { if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; SERVER_PID=; }
trap cleanup EXIT
wait_up() { for _ in $(seq 1 200); do curl -sf "$1" >/dev/null && return 0; kill -0 "$2" 2>/dev/null || return 1; sleep 3; done; return 1; }
SCPU=0; CCPU=$(( $(nproc) > 1 ? 1 : 0 ))
run_acc() { # url name extra...
  local url=$1 name=$2; shift 2
  rm -rf "$R/$name"
  taskset -c $CCPU "$ACC" run --endpoint "$url" --model tiny --spec "$HERE/sessions.yaml" --server-metrics \
    --max-lag 100000 -o "$R/$name" "$@" > "$R/$name.log" 2>&1
  echo "accelbench against $name: rc=$?"
  sed -n '/^sessions:/,/^$/p' "$R/$name.log"
  grep -E '^server metrics:' "$R/$name.log"
}
if [[ $WHAT == vllm || $WHAT == all ]]; then
  log "vLLM (CPU), prefix caching on"
  VLLM_TARGET_DEVICE=cpu VLLM_HOST_IP=127.0.0.1 VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=$SCPU \
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
    taskset -c $SCPU "$VV/bin/python" -m vllm.entrypoints.openai.api_server --model "$H/model/hf" \
    --served-model-name tiny --host 127.0.0.1 --port 8100 --dtype bfloat16 --max-model-len 2048 \
    --enable-prefix-caching > "$R/vllm_server.log" 2>&1 &
  SERVER_PID=$!
  wait_up http://127.0.0.1:8100/health $SERVER_PID && run_acc http://127.0.0.1:8100 vllm --server-kind vllm --prompt-format tokens
  cleanup
fi
if [[ $WHAT == llama || $WHAT == all ]]; then
  log "llama.cpp server (llama-cpp-python; it has no /metrics, so every scrape is recorded failed)"
  taskset -c $SCPU "$VL/bin/python" -m llama_cpp.server --model "$H/model/tiny-llama.gguf" \
    --model_alias tiny --host 127.0.0.1 --port 8200 --n_ctx 4096 --n_threads 1 --n_threads_batch 1 \
    --interrupt_requests False > "$R/llama_server.log" 2>&1 &
  SERVER_PID=$!
  wait_up http://127.0.0.1:8200/v1/models $SERVER_PID && run_acc http://127.0.0.1:8200 llama --prompt-format text --tokenizer "$TOK"
  cleanup
fi
log "done; results in $R"

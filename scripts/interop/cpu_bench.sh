#!/usr/bin/env bash
# CPU engine speed side by side with llama.cpp on SmolLM2-135M (./run.sh interop cpu; not CI):
# runs `accelbench bench cpu --json` and scripts/interop/cpu_peer.py (llama-cpp-python's low-level
# API) with the same thread count, alternating (accelbench, llama.cpp, accelbench, llama.cpp), then
# prints a markdown table (scripts/interop/cpu_table.py): each tool's median tokens/s of its runs and
# the ratio accelbench / llama.cpp, per prefill length and decode batch size.
# Usage: scripts/interop/cpu_bench.sh [--threads N] [--prefill 128,512] [--batches 1,8,32]
#                                     [--context 128] [--steps 32] [--reps 5]
# Options other than --threads go to both tools unchanged. CPU_BENCH_ROUNDS (default 2) sets the
# number of alternations; CPU_BENCH_OUT keeps the raw JSON lines in that file.
# Needs the release binary (swift build -c release) and the llama-cpp-python venv that
# scripts/interop/reference.sh (./run.sh interop reference) builds. Run it on an otherwise idle machine.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
INTEROP_DIR=${INTEROP_DIR:-$REPO/.interop}
VENV_LLAMA=${VENV_LLAMA:-$INTEROP_DIR/venv-llama}
BIN=${ACCELBENCH:-$REPO/.build/release/accelbench}
ROUNDS=${CPU_BENCH_ROUNDS:-2}
log() { echo "cpu_bench: $*" >&2; }
die() { log "$*"; exit 1; }

THREADS=2
PASS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --threads) [ $# -ge 2 ] || die "--threads needs a value"; THREADS=$2; shift 2 ;;
        --threads=*) THREADS=${1#--threads=}; shift ;;
        --prefill|--batches|--context|--steps|--reps)
            [ $# -ge 2 ] || die "$1 needs a value"; PASS+=("$1" "$2"); shift 2 ;;
        --prefill=*|--batches=*|--context=*|--steps=*|--reps=*) PASS+=("$1"); shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
case "$THREADS" in ''|*[!0-9]*|0) die "--threads: a positive integer" ;; esac

[ -x "$BIN" ] || die "no $BIN: build it first with: swift build -c release"
"$VENV_LLAMA/bin/python" -c 'import llama_cpp' 2>/dev/null \
    || die "no llama-cpp-python in $VENV_LLAMA: run ./run.sh interop reference (builds it) first"
MODEL=$(bash "$REPO/scripts/install-model.sh" --print-path)

OUT=${CPU_BENCH_OUT:-}
TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT

for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r/$ROUNDS: accelbench bench cpu --threads $THREADS ${PASS[*]}"
    "$BIN" bench cpu --threads "$THREADS" --json "${PASS[@]}" >>"$TMP" \
        || die "accelbench bench cpu failed (exit $?)"
    log "round $r/$ROUNDS: llama.cpp (cpu_peer.py) --threads $THREADS ${PASS[*]}"
    "$VENV_LLAMA/bin/python" "$HERE/cpu_peer.py" --model "$MODEL" --threads "$THREADS" "${PASS[@]}" >>"$TMP" \
        || die "cpu_peer.py failed (exit $?)"
done

[ -z "$OUT" ] || cp "$TMP" "$OUT"
"$VENV_LLAMA/bin/python" "$HERE/cpu_table.py" "$TMP"

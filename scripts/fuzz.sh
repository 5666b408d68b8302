#!/usr/bin/env bash
# libFuzzer targets over the parsers that read untrusted input (issue 16):
#   sse              SSE parser: every split of a stream gives the same events
#   records          fast vs strict record and workload-line decoders: no divergence
#   spec             workload spec parser: a spec or an error, never a trap
#   serve-validator  serve's request validator: a request within the rules or an error
#   gguf             GGUF reader, Llama config and weights, GGUF tokenizer, chat template: a model or an error
# Usage: scripts/fuzz.sh [SECONDS per target] [TARGET...]   (default 30 s, every target)
# FUZZ_SEED=N fixes libFuzzer's seed (CI does, so its verdict does not depend on the draw);
# unset, every run draws a fresh one.
# The libraries are built with coverage and AddressSanitizer in .build/fuzz; each target starts
# from its seed corpus in Fuzz/corpus/<target> (new inputs go to a scratch copy, not the repo).
# A crash leaves its input in .build/fuzz/crashes/<target>/ and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(sse records spec serve-validator gguf)
out=.build/fuzz
flags=(-sanitize=fuzzer,address -parse-as-library -g)
# The Swift runtime's own crash handler would run first and trip AddressSanitizer, hiding the
# trap's message and stack; with it off, libFuzzer prints both.
export SWIFT_BACKTRACE=enable=no
log() { echo "fuzz: $*" >&2; }

# The libraries under test, instrumented (library targets only: nothing is linked here).
swift build --build-path "$out" -Xswiftc -sanitize=fuzzer,address --target Workloads -q 2>&1 | grep -v '^\[' || true
swift build --build-path "$out" -Xswiftc -sanitize=fuzzer,address --target OpenAIWire -q 2>&1 | grep -v '^\[' || true
swift build --build-path "$out" -Xswiftc -sanitize=fuzzer,address --target Models -q 2>&1 | grep -v '^\[' || true
dbg="$out/debug"
# The object files of modules (some names hold spaces, hence the NUL-separated list).
objs=()
objects() { objs=(); for m in "$@"; do while IFS= read -r -d '' o; do objs+=("$o"); done < <(find "$dbg/$m.build" -name '*.o' -print0); done; }

build_target() {
    local t=$1 bin="$out/bin/$1"
    mkdir -p "$out/bin"
    case "$t" in
        sse) swiftc "${flags[@]}" -module-name FuzzSSE Fuzz/sse/main.swift Sources/LoadGen/SSEParser.swift -o "$bin" ;;
        records) objects BenchCore
            swiftc "${flags[@]}" -I "$dbg/Modules" Fuzz/records/main.swift "${objs[@]}" -o "$bin" ;;
        spec) objects BenchCore Workloads Yams CYaml HeapModule InternalCollectionsUtilities
            swiftc "${flags[@]}" -I "$dbg/Modules" -I "$out/checkouts/Yams/Sources/CYaml/include" Fuzz/spec/main.swift "${objs[@]}" -o "$bin" ;;
        serve-validator) objects BenchCore OpenAIWire
            swiftc "${flags[@]}" -I "$dbg/Modules" Fuzz/serve-validator/main.swift "${objs[@]}" -o "$bin" ;;
        gguf) objects BenchCore Tokenizer Models
            swiftc "${flags[@]}" -I "$dbg/Modules" Fuzz/gguf/main.swift "${objs[@]}" -o "$bin" ;;
        *) log "unknown target '$t' (sse, records, spec, serve-validator, gguf)"; exit 64 ;;
    esac
}

failed=()
for t in "${targets[@]}"; do
    # ld.gold warns about every sanitizer symbol; the output is kept for a failed link only.
    if ! build_target "$t" >"$out/$t.build.log" 2>&1; then
        grep -v "Cannot export local symbol" "$out/$t.build.log" >&2
        exit 1
    fi
    scratch=$(mktemp -d)
    cp Fuzz/corpus/"$t"/* "$scratch"/
    mkdir -p "$out/crashes/$t"
    log "$t: ${seconds} s"
    if ! "$out/bin/$t" ${FUZZ_SEED:+-seed="$FUZZ_SEED"} -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
            -artifact_prefix="$out/crashes/$t/" "$scratch" 2>"$out/$t.log"; then
        # The trap's message, the first frames of its stack, and the input (base64) to reproduce it.
        grep -m1 -E 'Fatal error|ERROR: (AddressSanitizer|libFuzzer)' "$out/$t.log" >&2 || true
        grep -m12 -E '^ +#[0-9]+ ' "$out/$t.log" >&2 || true
        tail -8 "$out/$t.log" >&2
        for c in "$out/crashes/$t"/*; do [ -f "$c" ] && { echo "fuzz: $t: input $(basename "$c") (base64):" >&2; base64 -w0 "$c" | head -c 20000 >&2; echo >&2; }; done
        failed+=("$t")
    else
        grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$out/$t.log" | sed "s/^/fuzz: $t: /" >&2 || true
    fi
    rm -rf "$scratch"
done
if [ ${#failed[@]} -gt 0 ]; then
    log "crashes in: ${failed[*]} (inputs in $out/crashes/)"
    exit 1
fi
echo "checks: fuzz targets ${targets[*]} ran ${seconds} s each without a crash"

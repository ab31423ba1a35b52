#!/usr/bin/env bash
# shellcheck disable=SC2054 # the commas in flags are their own lists (-fsanitize=a,b; -Wl,x)
# Builds the libFuzzer harnesses (clang, -fsanitize=fuzzer,address,undefined) for the IDX and
# safetensors parsers, predict's PGM and PNG reader, and the run folder's config.json and
# history.csv, and runs each for a bounded time from its seed corpus in fuzz/corpus/.
# Usage: scripts/fuzz.sh [SECONDS per harness, default 30]. Exits non-zero on any crash, leak or
# sanitizer report; the reproducer is left in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
command -v clang >/dev/null || { echo "fuzz.sh: clang is needed (apt-get install clang)" >&2; exit 1; }
out=build-fuzz
mkdir -p "$out"
# The parsers and what they call: the CUDA-free part of the host code.
sources=(src/idx.c src/errors.c src/files.c src/json.c src/safetensors.c src/checkpoint.c
         src/checkpoint_meta.c src/model.c src/train.c src/stop.c src/rng.c src/run_config.c
         src/history_csv.c src/backend.c src/image.c fuzz/no_backend.c)
flags=(-g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Iinclude -Isrc)
cuda=${CUDA_HOME:-/usr/local/cuda}
libs=(-L"$cuda/lib64" -Wl,-rpath,"$cuda/lib64" -lcurand -lpng -lz -lm)
for name in idx safetensors image run; do
    echo "== fuzz_$name: building"
    clang "${flags[@]}" -I"$cuda/include" "fuzz/fuzz_$name.c" "${sources[@]}" "${libs[@]}" \
        -o "$out/fuzz_$name"
    mkdir -p "$out/corpus_$name"
    echo "== fuzz_$name: $seconds s"
    # shellcheck disable=SC2015 # "|| true" covers both: the status is read from the artifacts
    (cd "$out" && "./fuzz_$name" -max_total_time="$seconds" -max_len=200000 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=0 "corpus_$name" "../fuzz/corpus/$name" \
        2>&1 | grep -E "^(Done|==[0-9]+==|SUMMARY|artifact)|ERROR" || true)
    # libFuzzer's exit status is lost in the pipe above; a crash leaves an artifact.
    if ls "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* >/dev/null 2>&1; then
        echo "fuzz_$name: failure, reproducer(s): $(ls "$out"/{crash,leak,timeout,oom}-* 2>/dev/null)" >&2
        exit 1
    fi
done
echo "fuzz.sh: no crashes"

#!/usr/bin/env bash
# The one command for a GPU machine: configure for the local GPU, build, run the whole CTest suite
# (the GPU tests must run, not skip), run the GPU tests once under compute-sanitizer, run the
# bench, and write a report (device, driver, CTest summary, bench table) to stdout and, when $OUT
# is set, to $OUT/report.md with the bench JSON beside it. Needs no network: MNIST must already
# be in data/mnist (carry it). Meant to finish within 5 minutes on an H100.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
log="$out/gpu-check.log"
report="$out/report.md"
: >"$log"
say() { echo "$*" | tee -a "$log"; }
fail() { say "gpu-check: $*"; exit 1; }

command -v nvidia-smi >/dev/null || fail "no nvidia-smi: is this a GPU machine?"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
[[ -n $arch ]] || fail "cannot read the GPU's compute capability"
[[ -f data/mnist/train-images-idx3-ubyte.gz || -f data/mnist/train-images-idx3-ubyte ]] ||
    fail "data/mnist is missing: carry it (scripts/fetch-mnist.sh needs the network)"
say "GPU: $gpu (sm_$arch), driver $driver"

build=build-gpu
cmake -S . -B $build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DDD_MNIST_DIR="$PWD/data/mnist" >>"$log" 2>&1 || fail "configure failed (see $log)"
cmake --build $build -j"$(nproc)" >>"$log" 2>&1 || fail "build failed (see $log)"
say "built in $((SECONDS - start)) s"

# The GPU tests first, so that their result is in even if something later hangs; then the rest.
# Every test has a time limit: a hung kernel must not eat the machine's time.
ctest --test-dir $build -L gpu --timeout 180 --output-on-failure >"$out/ctest-gpu.log" 2>&1
gpu_rc=$?
say "GPU tests: $(grep -E 'tests passed' "$out/ctest-gpu.log") (exit $gpu_rc, $((SECONDS - start)) s)"
ctest --test-dir $build -LE gpu -j4 --timeout 180 --output-on-failure >"$out/ctest.log" 2>&1
rest_rc=$?
summary="GPU tests: $(grep -E 'tests passed' "$out/ctest-gpu.log"); the others: $(grep -E 'tests passed' "$out/ctest.log")"
skipped=$(grep -hE '\(Skipped\)' "$out/ctest-gpu.log" "$out/ctest.log" | sed 's/^[[:space:]]*//' |
    paste -sd ';' -)
ctest_rc=$((gpu_rc != 0 || rest_rc != 0))
say "CTest: $summary (exit $gpu_rc and $rest_rc)"
[[ -z $skipped ]] || say "skipped: $skipped"
if grep -q 'test_gpu' <<<"$skipped" || ! grep -q 'tests passed' "$out/ctest-gpu.log"; then
    say "the GPU tests did not all run on a GPU machine"
    ctest_rc=1
fi

sanitizer=/usr/local/cuda/bin/compute-sanitizer
if [[ -x $sanitizer ]]; then
    timeout 150 $sanitizer --tool memcheck --error-exitcode 9 $build/tests/test_gpu_curand \
        >"$out/memcheck.log" 2>&1 &&
        timeout 150 $sanitizer --tool memcheck --error-exitcode 9 $build/tests/test_gpu_ops \
            >>"$out/memcheck.log" 2>&1
    memcheck="exit $? ($(grep -E 'ERROR SUMMARY' "$out/memcheck.log" | tr '\n' ' '))"
else
    memcheck="compute-sanitizer not found"
fi
say "compute-sanitizer memcheck (test_gpu_curand, test_gpu_ops): $memcheck"

# The fused engine's kernel keeps everything in shared memory and registers: racecheck for
# hazards between its barriers, memcheck for out-of-bounds, synccheck for barriers misused, on 100 steps of the lab's network
# (batch 1) and 10 of variant 20 (batch 32, BN after the activation). Only the fused kernel is
# instrumented (--kernel-name), the rest of the run goes at full speed.
fused_run() {
    timeout 90 $sanitizer --tool "$1" --kernel-name kns=fused_kernel --error-exitcode 9 \
        $build/deepdigits train --device gpu --engine fused --epochs 1 --verbose 0 \
        --subset "$2" --variant "$3" >>"$out/fused-sanitizer.log" 2>&1
}
if [[ -x $sanitizer ]]; then
    : >"$out/fused-sanitizer.log"
    fused_run racecheck 100 0 && fused_run racecheck 320 20 && fused_run memcheck 100 0 &&
        fused_run memcheck 320 20 && fused_run synccheck 320 20
    fused_check="exit $? ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/fused-sanitizer.log" | tr '\n' ' '))"
else
    fused_check="compute-sanitizer not found"
fi
say "compute-sanitizer racecheck, memcheck, synccheck of the fused engine: $fused_check"

# The lab's program end to end on the GPU, two epochs, as a user would see it, on each engine.
for engine in fused layers; do
    timeout 90 $build/deepdigits train --device gpu --engine $engine --epochs 2 \
        >"$out/train-$engine.txt" 2>&1
    say "train --device gpu --engine $engine --epochs 2: exit $? ($(tail -1 "$out/train-$engine.txt"))"
done

timeout 150 $build/bench/deepdigits-bench --json "$out/bench.json" >"$out/bench.txt" 2>&1
bench_rc=$?
say "bench: exit $bench_rc after $((SECONDS - start)) s"
if ((SECONDS - start < 180)); then
    timeout 120 $build/bench/deepdigits-bench --models 0 --batch 1 --device gpu --lab \
        --json "$out/bench-lab.json" \
        >"$out/bench-lab.txt" 2>&1
    say "lab bench: exit $? after $((SECONDS - start)) s"
fi

{
    echo "# GPU check: $(date -u +%Y-%m-%d) on $gpu"
    echo
    echo "- device: $gpu (sm_$arch), driver $driver, $(/usr/local/cuda/bin/nvcc --version 2>/dev/null | tail -1)"
    echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "- CTest: $summary (exit $ctest_rc)"
    [[ -z $skipped ]] || echo "- skipped: $skipped"
    echo "- compute-sanitizer memcheck: $memcheck"
    echo "- compute-sanitizer on the fused engine: $fused_check"
    echo "- wall time of this check: $((SECONDS - start)) s"
    echo
    for engine in fused layers; do
        echo "## The lab's network on the GPU, two epochs, --engine $engine"
        echo
        echo '```'
        tail -4 "$out/train-$engine.txt"
        echo '```'
        echo
    done
    echo
    echo "## deepdigits-bench"
    echo
    echo '```'
    cat "$out/bench.txt"
    [[ -f $out/bench-lab.txt ]] && cat "$out/bench-lab.txt"
    echo '```'
    if ((ctest_rc != 0)); then
        echo
        echo "## CTest failures"
        echo
        echo '```'
        grep -hE 'FAIL|Failed|\*\*\*' "$out/ctest-gpu.log" "$out/ctest.log" | head -60
        echo '```'
    fi
} >"$report"
cat "$report"
((ctest_rc == 0 && bench_rc == 0))

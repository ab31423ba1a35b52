#!/usr/bin/env bash
# The one command for a GPU machine: configure for the local GPU, build, run the GPU tests (they
# must run, not skip), train the lab's network on each engine, run the bench and time a fused
# step's phases, run the rest of the CTest suite, then compute-sanitizer and an Nsight Compute
# profile of the fused kernel while time is left.
# The report (device, driver, CTest summaries, bench tables, sanitizer verdicts) goes to stdout
# and, when $OUT is set, to $OUT under the names it is committed by (bench/results/<date>-<gpu>.md,
# with the bench's .json, -lab.json and -crossover.json beside it), with every log in
# $OUT/logs.tar.gz: five files at most, since the device tool brings back no more than eight.
# They are rewritten after every stage, so a run cut short still leaves what it measured.
# Meant to finish within 5 minutes on an H100: every stage after the build is limited by what is
# left of GPU_CHECK_BUDGET seconds (default 300; at least 10 s a stage), so a hung stage cannot
# take the machine's time past it, and the optional stages run only while it lasts.
# Needs no network: MNIST must already be in data/mnist (carry it). Where the machine lacks
# libpng's or zlib's development files, carry .deps too (scripts/gpu-deps.sh makes it). Through
# the device tool: carry data/mnist and .deps, command `GPU_CHECK_BUDGET=400 scripts/gpu-check.sh`,
# a limit of about 540 seconds.
# `scripts/gpu-check.sh --profile` instead builds and measures what the next change needs (about
# 2 minutes): the bench at the batches between the measured ones (where the engine rules switch),
# the SGEMMs three ways, where the lab's time goes, the kernels of a captured layers step with
# their durations, and the fused kernel's instructions and stalls by SASS instruction (Nsight
# Compute). `--all` does both, the check first, on one build and one machine start.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
mode=check
case ${1:-} in
--profile) mode=profile ;;
--all) mode=all ;; # the check, then the profile's stages: one machine start, one build
"") ;;
*) echo "usage: scripts/gpu-check.sh [--profile | --all]" >&2 && exit 2 ;;
esac
start=$SECONDS
budget=${GPU_CHECK_BUDGET:-300}
fused4=",cuda-fused-4sm" # the bench's backend for four SMs a model; "" once its canary fails
pipe=",cuda-fused-pipe"  # the bench's backend for the pipelined warp step; "" once its canary fails
out=$(mktemp -d)  # the logs
dest=${OUT:-$out/results} # what comes back
mkdir -p "$dest"
log="$out/gpu-check.log"
report="$out/report.md"
: >"$log"
say() { echo "$*" | tee -a "$log"; }
# A failure before the end still leaves a report (once the GPU is known) with the log's tail.
stopped=""
fail() {
    say "gpu-check: $*"
    stopped="$*"
    [[ -n ${slug:-} ]] && write_report
    exit 1
}
left() { echo $((budget - (SECONDS - start))); }
# CTest's summary line in LOG and its exit status RC, or that the budget's end stopped it.
summary() {
    if (($2 == 124 || $2 == 137)); then
        echo "stopped at the budget's end (exit $2; see $(basename "$1"))"
    else
        echo "$(grep -E 'tests passed' "$1") (exit $2)"
    fi
}
# The tests CTest's LOG names as skipped, on one line.
skips() { grep -hE '\(Skipped\)' "$1" | sed 's/^[[:space:]]*//' | paste -sd ';' -; }
# A stage's time limit: its own N seconds, or what is left of the budget (at least 10 s), so that
# the whole check ends near the budget even when a stage hangs.
cap() {
    local l
    l=$(left)
    ((l < 10)) && l=10
    echo $(($1 < l ? $1 : l))
}

command -v nvidia-smi >/dev/null || fail "no nvidia-smi: is this a GPU machine?"
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d .)
[[ -n $arch ]] || fail "cannot read the GPU's compute capability"
[[ -f data/mnist/train-images-idx3-ubyte.gz || -f data/mnist/train-images-idx3-ubyte ]] ||
    fail "data/mnist is missing: carry it (scripts/fetch-mnist.sh needs the network)"
say "GPU: $gpu (sm_$arch), driver $driver"
# "NVIDIA H100 80GB HBM3" -> h100-80gb-hbm3, for the results' file names.
slug=$(echo "$gpu" | tr '[:upper:]' '[:lower:]' | sed -e 's/^nvidia //' -e 's/[^a-z0-9]\+/-/g' -e 's/-$//')

# The machine's copy of the tree may have no .git: the commit is then unknown.
commit=unknown
if git rev-parse --git-dir >/dev/null 2>&1; then
    commit="$(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
fi

# What the report says so far; each stage fills in its part and calls write_report.
fused_ok=1 # until the canary says otherwise
gpu_tests="not run" other_tests="not run" skipped="" ctest_rc=1 bench_rc=1
memcheck="not run" fused_check="not run" profile="not run" graph_nodes="not run" canary="not run"
blocking="" # the failed GPU tests rerun with synchronous launches, when any failed
write_report() {
    {
        echo "# GPU check: $(date -u +%Y-%m-%d) on $gpu"
        echo
        echo "- device: $gpu (sm_$arch), driver $driver, $(/usr/local/cuda/bin/nvcc --version 2>/dev/null | tail -1)"
        echo "- commit: $commit"
        [[ $mode != profile ]] || echo "- mode: --profile (measurements for the next change; no tests)"
        echo "- fused-kernel canary: $canary"
        echo "- GPU tests: $gpu_tests"
        [[ -z $blocking ]] || echo "- the failed GPU tests with CUDA_LAUNCH_BLOCKING=1: $blocking"
        echo "- the other tests: $other_tests"
        echo "- a captured step of the layers engine (lab network = variant 0): $graph_nodes"
        [[ -z $skipped ]] || echo "- skipped: $skipped"
        echo "- compute-sanitizer memcheck (test_gpu_curand, test_gpu_ops), racecheck (test_gpu_init): $memcheck"
        echo "- compute-sanitizer racecheck, memcheck, synccheck of the fused kernel: $fused_check"
        echo "- Nsight Compute profile of the fused kernel (ncu-fused.txt): $profile"
        echo "- wall time so far: $((SECONDS - start)) s"
        if [[ -n $stopped ]]; then
            echo "- **stopped early: $stopped**"
            echo
            echo '```'
            tail -40 "$log"
            echo '```'
        fi
        for engine in fused layers; do
            [[ -f $out/train-$engine.txt ]] || continue
            echo
            echo "## The lab's network on the GPU, two epochs, --engine $engine"
            echo
            echo '```'
            tail -4 "$out/train-$engine.txt"
            echo '```'
        done
        if { ((!fused_ok)) || [[ -z $fused4 || -z $pipe ]]; } && [[ -s $out/canary.txt ]]; then
            echo
            echo "## The fused canary's output"
            echo
            echo '```'
            tail -20 "$out/canary.txt"
            echo '```'
        fi
        for part in phases:"Where a fused step's time goes (deepdigits-bench --phases)" \
            crossover:"The fused and layers engines between the measured batches" \
            gemms:"The layers engine's SGEMMs asked of cuBLAS three ways" \
            lab-parts:"The 21 models at once: wall time and each epoch's own seconds" \
            layers-kernels:"The kernels of captured layers steps (ncu, 10 steps of batch 32)" \
            fused-source:"The fused kernel's warp state and instruction statistics (ncu)"; do
            [[ -s $out/${part%%:*}.txt ]] || continue
            echo
            echo "## ${part#*:}"
            echo
            echo '```'
            head -120 "$out/${part%%:*}.txt"
            echo '```'
        done
        if [[ -f $out/bench.txt ]]; then
            echo
            echo "## deepdigits-bench"
            echo
            echo '```'
            cat "$out/bench.txt"
            [[ -f $out/bench-lab.txt ]] && cat "$out/bench-lab.txt"
            echo '```'
        fi
        if grep -qhE 'FAIL|\*\*\*Failed|\*\*\*Timeout' "$out"/ctest*.log 2>/dev/null; then
            echo
            echo "## CTest failures"
            echo
            echo '```'
            grep -hE 'FAIL|Failed|\*\*\*' "$out"/ctest*.log | head -60
            echo '```'
        fi
    } >"$report"
    # The same files under the names they are committed by: bench/results/<date>-<gpu>.*
    local name
    name="$dest/$(date -u +%Y-%m-%d)-$slug$([[ $mode == profile ]] && echo -profile)"
    cp "$report" "$name.md"
    [[ -f $out/bench.json ]] && cp "$out/bench.json" "$name.json"
    [[ -f $out/bench-lab.json ]] && cp "$out/bench-lab.json" "$name-lab.json"
    [[ -f $out/bench-crossover.json ]] && cp "$out/bench-crossover.json" "$name-crossover.json"
    tar -czf "$dest/logs.tar.gz" -C "$out" --exclude=./results . 2>/dev/null
    return 0
}


build="build-gpu"
# The machine may lack libpng's and zlib's development files: then the static ones that
# scripts/gpu-deps.sh put in .deps (carried along) are linked instead.
configure() {
    cmake -S . -B $build -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
        -DCMAKE_CUDA_FLAGS=-lineinfo -DDD_MNIST_DIR="$PWD/data/mnist" "$@" >>"$log" 2>&1
}
deps=$PWD/.deps/usr
if ! configure; then
    [[ -f $deps/include/zlib.h ]] || fail "configure failed (see $log; no .deps: scripts/gpu-deps.sh)"
    say "configure failed with the system's libraries: trying .deps (libpng and zlib, static)"
    rm -rf $build
    configure -DZLIB_INCLUDE_DIR="$deps/include" -DZLIB_LIBRARY="$deps/lib/x86_64-linux-gnu/libz.a" \
        -DPNG_PNG_INCLUDE_DIR="$deps/include/libpng16" \
        -DPNG_LIBRARY="$deps/lib/x86_64-linux-gnu/libpng16.a" || fail "configure failed (see $log)"
fi
cmake --build $build -j"$(nproc)" >>"$log" 2>&1 || fail "build failed (see $log)"
say "built in $((SECONDS - start)) s"
ncu=$(command -v ncu)
for candidate in /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu; do
    [[ -z $ncu && -x $candidate ]] && ncu=$candidate
done

# --profile: what the next change to either engine needs, then the report.
# After --all's check, a failed fused canary leaves the fused engine out here too: a hung kernel
# would otherwise take each stage's whole limit.
profile_stages() {
    local crossing=cuda,cuda-fused,cuda-fused-2sm"$fused4"
    ((fused_ok)) || crossing=cuda
    timeout -k 10 "$(cap 90)" $build/bench/deepdigits-bench --models 0,20 --batch 2,8,16,64,128 \
        --backends $crossing --repeats 3 --json "$out/bench-crossover.json" \
        >"$out/crossover.txt" 2>&1
    say "crossover bench: exit $? after $((SECONDS - start)) s"
    # The layers engine's SGEMMs asked of cuBLAS three ways (bench/gemm.c): which gives one kernel
    # a product, and at what cost, the engine's way (cuBLASLt, kernels/sgemm.cu) among them.
    timeout -k 10 "$(cap 60)" $build/bench/deepdigits-bench --gemms --models 0,20 --batch 32,256 \
        >"$out/gemms.txt" 2>&1
    say "SGEMMs three ways: exit $? after $((SECONDS - start)) s"
    write_report
    # Where the whole lab's time goes: `train --variant all` for two epochs, with the per-layer
    # diagnostics (as the lab bench and a user run) and without, and with CUDA's default 8
    # hardware queues instead of the 32 deepdigits asks for (dd_cuda_prefer_own_queues); its wall
    # time against the epochs' own train and evaluation seconds in the baseline's and variant 20's
    # history.
    : >"$out/lab-parts.txt"
    local flags queues t0 run_case
    ((fused_ok)) || echo "left out: the fused canary failed" >"$out/lab-parts.txt"
    for run_case in "32 " "32 --no-diagnostics" "8 "; do
        ((fused_ok)) || break
        read -r queues flags <<<"$run_case"
        t0=$SECONDS
        # shellcheck disable=SC2086 # FLAGS is one flag or none
        CUDA_DEVICE_MAX_CONNECTIONS=$queues timeout -k 10 "$(cap 60)" $build/deepdigits train \
            --variant all --epochs 2 --device gpu --verbose 0 $flags --out "$out/all" \
            >/dev/null 2>"$out/lab-parts.err"
        {
            echo "train --variant all --epochs 2 ${flags:-(diagnostics on)}, $queues hardware queues: exit $?, $((SECONDS - t0)) s wall"
            for run in baseline variant-20; do
                echo "  $run: $(cut -d, -f1,6-8 "$out/all/$run/history.csv" 2>/dev/null | paste -sd ' ' -)"
            done
        } >>"$out/lab-parts.txt"
        rm -rf "$out/all"
    done
    say "lab parts: $(paste -sd ' ' "$out/lab-parts.txt")"
    [[ -n $ncu ]] || { say "ncu not found"; return; }
    # Each kernel of 10 captured steps (after the first 30 launches: set-up and capture), with its
    # duration and launch shape; the graph's gaps between them are what the bench adds.
    : >"$out/layers-kernels.txt"
    for variant in 0 20; do
        echo "### variant $variant, batch 32" >>"$out/layers-kernels.txt"
        timeout -k 10 "$(cap 60)" "$ncu" --clock-control none --launch-skip 30 --launch-count 60 \
            --metrics gpu__time_duration.sum,launch__grid_size,launch__block_size \
            $build/deepdigits train --device gpu --engine layers --variant $variant --batch 32 \
            --epochs 1 --subset 3200 --verbose 0 --no-diagnostics >"$out/ncu-layers-$variant.txt" 2>&1
        say "ncu layers step, variant $variant: exit $?"
        grep -E '^  [A-Za-z_].*\(|gpu__time_duration|launch__grid_size|launch__block_size' \
            "$out/ncu-layers-$variant.txt" | sed 's/  */ /g' >>"$out/layers-kernels.txt"
    done
    write_report
    # One launch each of the lab at batch 1 (1,000 steps) and variant 20 at batch 32 on two SMs
    # (100 steps): instructions executed and warp stalls by SASS instruction. Without the per-layer
    # diagnostics, as the bench times it (their gradient norms cost a loop of their own).
    : >"$out/fused-source.txt"
    local variant subset
    ((fused_ok)) || { say "ncu fused kernel: left out, the fused canary failed"; return; }
    for args in "0 1000" "20 3200"; do
        read -r variant subset <<<"$args"
        timeout -k 10 "$(cap 60)" "$ncu" --clock-control none -k regex:fused_kernel --launch-count 1 \
            --section SourceCounters --section WarpStateStats --section InstructionStats \
            --import-source yes -f -o "$out/fused-$variant" \
            $build/deepdigits train --device gpu --engine fused --variant "$variant" --subset "$subset" \
            --epochs 1 --verbose 0 --no-diagnostics >"$out/ncu-fused-$variant.log" 2>&1
        say "ncu fused kernel, variant $variant: exit $?"
        # By SASS instruction: the CUDA source page covers fused.cu alone, not the headers the
        # kernel's body is in.
        timeout -k 10 "$(cap 30)" "$ncu" -i "$out/fused-$variant.ncu-rep" --page source --csv \
            --print-source sass >"$out/fused-$variant-sass.csv" 2>&1
        say "its SASS page: exit $? ($(wc -l <"$out/fused-$variant-sass.csv") lines)"
        timeout -k 10 "$(cap 30)" "$ncu" -i "$out/fused-$variant.ncu-rep" --page details \
            >>"$out/fused-source.txt" 2>&1
    done
}
if [[ $mode == profile ]]; then
    profile_stages
    write_report
    cat "$report"
    exit 0
fi

# Every limit below also kills (-k): deepdigits catches SIGTERM to save a checkpoint, and a process
# stuck in a hung kernel's synchronize would never act on it.
# 0. A canary for the fused kernel: one short launch on one SM (the lab's network at batch 1) and
# one on a cluster of two (variant 20 at batch 32). If one hangs, every stage that runs the fused
# engine is left out (a hang would eat the machine's time at each of them); if one fails without
# hanging, the sanitizers below still look at it. A third on a cluster of four and a fourth with
# the pipelined warp step (both new, never run on a GPU): if one fails, the bench and the
# sanitizers leave it out (the tests still try it).
fused_ok=1 fused_hangs=0 canary=""
for args in "--variant 0 --subset 200" "--variant 20 --subset 640" \
    "--variant 20 --subset 640 --fused-sms 4" "--variant 0 --subset 200 --fused-pipe"; do
    # shellcheck disable=SC2086 # ARGS is flag pairs
    timeout -k 10 "$(cap 30)" $build/deepdigits train --device gpu --engine fused --epochs 1 --verbose 0 $args \
        >>"$out/canary.txt" 2>&1
    rc=$?
    canary+="$args: exit $rc; "
    if [[ $args == *--fused-sms* ]]; then
        ((rc == 0)) || fused4=""
        continue
    fi
    if [[ $args == *--fused-pipe* ]]; then
        ((rc == 0)) || pipe=""
        continue
    fi
    ((rc == 0)) || fused_ok=0
    ((rc != 124 && rc != 137)) || fused_hangs=1
done
say "fused-kernel canary: $canary"
write_report
skip_fused=()
((fused_ok)) || skip_fused=(-E 'test_gpu_fused|gpu_variants_all|gpu_cli')

# 1. The GPU tests, each with a time limit (a hung kernel must not eat the machine's time).
timeout -k 10 "$(cap 600)" ctest --test-dir $build -L gpu "${skip_fused[@]}" --timeout 120 \
    --output-on-failure >"$out/ctest-gpu.log" 2>&1
gpu_rc=$?
gpu_tests="$(summary "$out/ctest-gpu.log" $gpu_rc)"
skipped=$(skips "$out/ctest-gpu.log")
if [[ -n $skipped ]] || ! grep -q 'tests passed' "$out/ctest-gpu.log"; then
    gpu_tests="$gpu_tests — the GPU tests did not all run on a GPU machine"
    gpu_rc=1
fi
if ((!fused_ok)); then
    gpu_tests="$gpu_tests — test_gpu_fused and gpu_variants_all left out: the fused canary failed"
    gpu_rc=1
fi
say "GPU tests: $gpu_tests after $((SECONDS - start)) s"
# A fault inside a kernel surfaces at the next synchronize, whose file:line then names the wrong
# place: the failed tests run once more with every launch synchronous, so the first check after
# the faulting kernel's launch names it. Not after a timeout (a hung test would only hang again)
# and only while the budget leaves room for the stages after it.
# (CTest 4 writes "100% tests passed out of 6" when none failed: look for a failed count.)
if grep -qE '[1-9][0-9]* tests? failed' "$out/ctest-gpu.log"; then
    if grep -q '\*\*\*Timeout' "$out/ctest-gpu.log"; then
        blocking="not rerun: a GPU test timed out"
    elif (($(left) < 150)); then
        blocking="not rerun: $(left) s of the budget left"
    else
        CUDA_LAUNCH_BLOCKING=1 timeout -k 10 "$(cap 90)" ctest --test-dir $build --rerun-failed --timeout 60 \
            --output-on-failure >"$out/ctest-gpu-blocking.log" 2>&1
        blocking="$(grep -E 'tests passed' "$out/ctest-gpu-blocking.log") (ctest-gpu-blocking.log)"
    fi
    say "failed GPU tests again with CUDA_LAUNCH_BLOCKING=1: $blocking"
fi
write_report

# 2. The lab's program end to end, two epochs, as a user would see it, on each engine.
engines=(layers)
((fused_ok)) && engines=(fused layers)
for engine in "${engines[@]}"; do
    timeout -k 10 "$(cap 60)" $build/deepdigits train --device gpu --engine "$engine" --epochs 2 \
        >"$out/train-$engine.txt" 2>&1
    say "train --engine $engine --epochs 2: exit $? ($(tail -1 "$out/train-$engine.txt"))"
done
# What one captured step of the layers engine became, for the lab's network and variant 20 at
# batch 32: its kernels and those on its longest chain (README: 10 and 30, 8 and 24 on the chain,
# each SGEMM one kernel through cuBLASLt; the emulated device's count, CTest emulated_graph_shape).
graph_nodes=""
for variant in 0 20; do
    line=$(DD_GRAPH_NODES=1 timeout -k 10 "$(cap 60)" $build/deepdigits train --device gpu --engine layers \
        --variant $variant --batch 32 --epochs 1 --subset 640 --verbose 0 --no-diagnostics \
        2>&1 >/dev/null |
        grep -m1 'graph nodes')
    line=${line#deepdigits: a captured training step of }
    graph_nodes+="variant $variant: ${line:-no graph-nodes line (the run failed)}; "
done
say "layers engine: $graph_nodes"
write_report

# 3. The bench: the matrix, then the whole lab on the GPU.
backends=cpu,cuda,cuda-fused,cuda-fused-2sm"$fused4$pipe"
((fused_ok)) || backends=cpu,cuda
timeout -k 10 "$(cap 150)" $build/bench/deepdigits-bench --backends $backends --json "$out/bench.json" \
    >"$out/bench.txt" 2>&1
bench_rc=$?
say "bench: exit $bench_rc after $((SECONDS - start)) s"
write_report
# Where a fused step's time goes: each phase in SM cycles, from the kernel built with its phase
# clocks (bench/phases.c; bench/NOTES.md, v4, predicts the lab's at batch 1).
if ((fused_ok && $(left) > 60)); then
    timeout -k 10 "$(cap 40)" $build/bench/deepdigits-bench --phases --models 0,1,20 --batch 1,32 \
        --backends cuda-fused,cuda-fused-2sm"$fused4$pipe" >"$out/phases.txt" 2>&1
    say "phases: exit $? after $((SECONDS - start)) s"
    write_report
fi
if ((fused_ok && $(left) > 60)); then # the lab on the GPU trains with the fused engine
    timeout -k 10 "$(cap 90)" $build/bench/deepdigits-bench --models 0 --batch 1 --device gpu --lab \
        --json "$out/bench-lab.json" >"$out/bench-lab.txt" 2>&1
    say "lab bench: exit $? after $((SECONDS - start)) s"
    write_report
fi

# 4. The rest of the suite, but the emulated device's tests (CI runs them; here the GPU's time is
# better spent).
timeout -k 10 "$(cap 300)" ctest --test-dir $build -LE 'gpu|emulated' -j"$(nproc)" --timeout 120 \
    --output-on-failure >"$out/ctest.log" 2>&1
rest_rc=$?
other_tests="$(summary "$out/ctest.log" $rest_rc)"
rest_skipped=$(skips "$out/ctest.log")
[[ -z $rest_skipped ]] || other_tests="$other_tests; skipped: $rest_skipped"
ctest_rc=$((gpu_rc != 0 || rest_rc != 0))
say "the other tests: $other_tests after $((SECONDS - start)) s"
write_report

# 5. compute-sanitizer while time is left. The fused kernel keeps everything in shared memory
# and registers: racecheck for hazards between its barriers, memcheck for out-of-bounds,
# synccheck for misused barriers, on 100 steps of the lab's network (batch 1) and 10 of variant
# 20 (batch 32, BN after the activation), with only that kernel instrumented (--kernel-name).
sanitizer=/usr/local/cuda/bin/compute-sanitizer
fused_run() { # TOOL SUBSET VARIANT [SMS [pipe]]
    timeout -k 10 "$(cap 60)" $sanitizer --tool "$1" --kernel-name kns=fused_kernel --error-exitcode 9 \
        $build/deepdigits train --device gpu --engine fused --epochs 1 --verbose 0 \
        --subset "$2" --variant "$3" ${4:+--fused-sms "$4"} ${5:+--fused-pipe} \
        >>"$out/fused-sanitizer.log" 2>&1
}
if [[ ! -x $sanitizer ]]; then
    memcheck="compute-sanitizer not found" fused_check="compute-sanitizer not found"
else
    if ((fused_hangs)); then
        fused_check="skipped: the fused canary hung"
    elif (($(left) > 60)); then
        # Each check on its own, so that one finding does not hide the others.
        : >"$out/fused-sanitizer.log"
        fused_check=""
        checks=("racecheck 100 0" "racecheck 320 20" "memcheck 100 0" "memcheck 320 20"
            "synccheck 320 20")
        [[ -n $fused4 ]] && checks+=("racecheck 320 20 4" "memcheck 320 20 4")
        [[ -n $pipe ]] && checks+=("racecheck 100 0 1 pipe" "memcheck 100 0 1 pipe")
        for check in "${checks[@]}"; do
            (($(left) > 30)) || break
            # shellcheck disable=SC2086 # CHECK is the tool, the subset and the variant
            fused_run $check
            fused_check+="$check: exit $?; "
        done
        fused_check+="($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/fused-sanitizer.log" | tr '\n' ' '))"
    else
        fused_check="skipped: out of time"
    fi
    write_report
    if (($(left) > 60)); then
        timeout -k 10 "$(cap 60)" $sanitizer --tool memcheck --error-exitcode 9 $build/tests/test_gpu_curand \
            >"$out/memcheck.log" 2>&1
        memcheck="test_gpu_curand: exit $?; "
        timeout -k 10 "$(cap 90)" $sanitizer --tool memcheck --error-exitcode 9 $build/tests/test_gpu_ops \
            >>"$out/memcheck.log" 2>&1
        memcheck+="test_gpu_ops: exit $?; "
        # The initialization's one shared-memory kernel, a scan between barriers: racecheck.
        timeout -k 10 "$(cap 45)" $sanitizer --tool racecheck --error-exitcode 9 \
            --kernel-name kns=keep_within_truncation_kernel $build/tests/test_gpu_init \
            >>"$out/memcheck.log" 2>&1
        memcheck+="test_gpu_init racecheck: exit $? "
        memcheck+="($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$out/memcheck.log" | tr '\n' ' '))"
    else
        memcheck="skipped: out of time"
    fi
fi
say "compute-sanitizer: fused kernel $fused_check; ops $memcheck"
write_report

# 6. Where the fused kernel's time goes (the next version's guide): Nsight Compute's warp-state
# and scheduler statistics of one launch each for variant 20 at batch 32 (two SMs by the rule;
# 100 steps) and the lab's network at batch 1 (1,000 steps; also pipelined, unless its canary
# failed), clocks left alone.
if [[ -z $ncu ]]; then
    profile="ncu not found"
elif ((fused_hangs)); then
    profile="skipped: the fused canary hung"
elif (($(left) > 45)); then
    : >"$out/ncu-fused.txt"
    ncu_rc=0
    profiled=("--variant 20 --subset 3200" "--variant 0 --subset 1000")
    [[ -n $pipe ]] && profiled+=("--variant 0 --subset 1000 --fused-pipe")
    for args in "${profiled[@]}"; do
        # shellcheck disable=SC2086 # ARGS is flags
        timeout -k 10 "$(cap 40)" "$ncu" --clock-control none -k regex:fused_kernel --launch-count 1 \
            --section LaunchStats --section Occupancy --section SpeedOfLight \
            --section WarpStateStats --section SchedulerStats \
            $build/deepdigits train --device gpu --engine fused --epochs 1 --verbose 0 --no-diagnostics \
            $args >>"$out/ncu-fused.txt" 2>&1 || { ncu_rc=$?; break; }
    done
    profile="exit $ncu_rc ($(grep -c 'fused_kernel' "$out/ncu-fused.txt") lines name the kernel)"
else
    profile="skipped: out of time"
fi
say "ncu: $profile"
write_report
if [[ $mode == all ]]; then
    profile_stages
    write_report
fi
cat "$report"
((ctest_rc == 0 && bench_rc == 0))

#!/usr/bin/env bash
# The GPU's failures on the emulated device (tests/emudev/cudart.cc makes them on request): no
# device, no driver, a driver older than this build's runtime, too little device memory, and a build without kernels for the device's architecture
# each give one line naming the problem and exit 1 under --device gpu, and under --device auto
# one line saying so, then training on the CPU. Usage: emulated_gpu_errors.sh DEEPDIGITS-EMULATED
# MNIST_DIR
source "$(dirname "$0")/cli_lib.sh" "$@"
run=(train --data "$mnist" --subset 100 --epochs 1 --verbose 0)

# expect_cpu_fallback WORD: --device auto trains on the CPU after one line containing WORD.
expect_cpu_fallback() {
    "$dd" "${run[@]}" --device auto --history "$tmp/h.csv" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [[ $rc -ne 0 ]] || [[ $(wc -l <"$tmp/err") -ne 1 ]] || ! grep -qF -- "$1" "$tmp/err" ||
        ! grep -q "training on the CPU" "$tmp/err" || [[ $(wc -l <"$tmp/h.csv") -ne 2 ]]; then
        fail "--device auto with $2: exit $rc, wanted one line naming '$1' and a CPU run:"
        sed 's/^/    /' "$tmp/err"
    fi
}

DD_EMU_NO_DEVICE=1 expect_error "no CUDA device" "${run[@]}" --device gpu
DD_EMU_NO_DEVICE=1 expect_cpu_fallback "no CUDA device" "no device"
# No driver is no device; a driver too old for this build is named as such.
DD_EMU_NO_DRIVER=1 expect_error "--device gpu: no CUDA device" "${run[@]}" --device gpu
DD_EMU_NO_DRIVER=1 expect_cpu_fallback "no CUDA device" "no driver"
DD_EMU_OLD_DRIVER=1 expect_error "the CUDA driver supports CUDA 12.4, this build needs 13.0" \
    "${run[@]}" --device gpu
DD_EMU_OLD_DRIVER=1 expect_cpu_fallback "update the driver" "an old driver"
# 40 MiB: the device opens (cuBLAS's workspace is 32 MiB), the test set and the activations do
# not fit beside it.
DD_EMU_DEVICE_BYTES=41943040 expect_error "out of memory" "${run[@]}" --device gpu
DD_EMU_DEVICE_BYTES=41943040 expect_cpu_fallback "out of memory" "too little memory"
# A run folder's config.json names the device that trained: it named the GPU that failed.
DD_EMU_DEVICE_BYTES=41943040 "$dd" "${run[@]}" --device auto --out "$tmp/fallback" >/dev/null 2>&1 ||
    fail "--device auto --out with too little memory did not train on the CPU"
grep -q '"device": *"cpu"' "$tmp/fallback/config.json" ||
    fail "config.json after a fallback to the CPU: $(grep device "$tmp/fallback/config.json")"
DD_EMU_NO_KERNEL_IMAGE=1 expect_error "rebuild with -DCMAKE_CUDA_ARCHITECTURES=90" "${run[@]}" --device gpu
DD_EMU_NO_KERNEL_IMAGE=1 expect_cpu_fallback "no kernels for" "no kernels for the device"
# The pipelined warp step takes the lab's shape only.
expect_error "--engine fused: the pipelined warp step takes batch 1, one hidden layer of up to 31 units" \
    "${run[@]}" --device gpu --engine fused --fused-pipe --batch 2
# Captures that end invalidated every time: after 16 in a row one line says the steps run without
# graphs, and the run goes on to the numbers of --no-graphs (the timings aside).
lost=(train --data "$mnist" --subset 1000 --epochs 1 --verbose 0 --device gpu --engine layers
    --batch 32)
"$dd" "${lost[@]}" --no-graphs --history "$tmp/eager.csv" 2>"$tmp/err" ||
    fail "the eager run failed: $(cat "$tmp/err")"
DD_EMU_LOSE_CAPTURES=1 "$dd" "${lost[@]}" --history "$tmp/lost.csv" 2>"$tmp/err"
rc=$?
if [[ $rc -ne 0 ]] || [[ $(wc -l <"$tmp/err") -ne 1 ]] ||
    ! grep -q "failed 16 times in a row (.*); the steps run without graphs" "$tmp/err"; then
    fail "captures lost every time: exit $rc, wanted one line saying the steps run without graphs:"
    sed 's/^/    /' "$tmp/err"
fi
numbers() { cut -d, -f1-5,8- "$1"; }
[[ "$(numbers "$tmp/eager.csv")" == "$(numbers "$tmp/lost.csv")" ]] ||
    fail "without its graphs the run's numbers differ from --no-graphs'"
finish emulated_gpu_errors

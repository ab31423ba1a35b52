#!/usr/bin/env bash
# On a GPU, `train --variant all` trains the 21 models at once (one stream and one fused block
# each); after one full epoch, the weights of the models issue 6 names (the baseline, variants 1,
# 2, 19 and 20) must be bit-identical to training each alone. Skipped (77) without a CUDA device.
# Usage: gpu_variants_all.sh DEEPDIGITS MNIST_DIR (DD_TEST_SUBSET: fewer images, for the emulator)
source "$(dirname "$0")/cli_lib.sh" "$@"
require_gpu gpu_variants_all
common=(--data "$mnist" ${DD_TEST_SUBSET:+--subset "$DD_TEST_SUBSET"} --epochs 1 --device gpu
        --engine fused --verbose 0)
"$dd" train --variant all "${common[@]}" --out "$tmp/all" >"$tmp/all.log" 2>&1 ||
    fail "--variant all exited $?: $(tail -2 "$tmp/all.log")"
# The tensors of a safetensors file: everything after its 8-byte length and its header.
tensors() { tail -c +$((9 + $(od -An -t u8 -N8 "$1"))) "$1"; }
for n in 0 1 2 19 20; do
    run=$( ((n == 0)) && echo baseline || printf 'variant-%02d' "$n")
    "$dd" train --variant "$n" "${common[@]}" --out "$tmp/alone-$n" >"$tmp/alone.log" 2>&1 ||
        fail "$run alone exited $?: $(tail -2 "$tmp/alone.log")"
    cmp -s <(tensors "$tmp/all/$run/model.safetensors") <(tensors "$tmp/alone-$n/model.safetensors") ||
        fail "$run: trained within --variant all, its weights differ from training it alone"
done
finish gpu_variants_all

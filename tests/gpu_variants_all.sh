#!/usr/bin/env bash
# On a GPU, `train --variant all` trains the 21 models at once (one stream and one fused block
# each); after one full epoch, the weights of the models issue 6 names (the baseline, variants 1,
# 2, 19 and 20) must be bit-identical to training each alone. With --fused-pipe, the baseline
# (the one model whose step it takes) is pipelined, bit-identical to the baseline pipelined alone,
# and the others are not, as their config.json says. Skipped (77) without a CUDA device.
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
"$dd" train --variant all "${common[@]}" --fused-pipe --out "$tmp/pipe" >"$tmp/all.log" 2>&1 ||
    fail "--variant all --fused-pipe exited $?: $(tail -2 "$tmp/all.log")"
"$dd" train --variant 0 "${common[@]}" --fused-pipe --out "$tmp/pipe-alone" >"$tmp/alone.log" 2>&1 ||
    fail "the baseline pipelined alone exited $?: $(tail -2 "$tmp/alone.log")"
cmp -s <(tensors "$tmp/pipe/baseline/model.safetensors") <(tensors "$tmp/pipe-alone/model.safetensors") ||
    fail "baseline: pipelined within --variant all, its weights differ from pipelining it alone"
if ! grep -q '"fused_pipe": true' "$tmp/pipe/baseline/config.json" ||
    ! grep -q '"fused_pipe": false' "$tmp/pipe/variant-20/config.json"; then
    fail "--variant all --fused-pipe: the baseline's config.json should say pipelined, variant 20's not"
fi
cmp -s <(tensors "$tmp/pipe/variant-20/model.safetensors") <(tensors "$tmp/all/variant-20/model.safetensors") ||
    fail "variant-20: within --variant all --fused-pipe, its weights differ from without it"
finish gpu_variants_all

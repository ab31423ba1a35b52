#!/usr/bin/env bash
# The shape of the layers engine's captured step on the emulated device, where each SGEMM is one
# kernel (as cuBLASLt's one-pass algorithms are on a GPU, kernels/sgemm.cu): without the
# diagnostics, the lab's network at batch 32 is 10 kernels with 8 on the longest chain (the
# output layer's kernel update beside it, and the last one, layer 1's, beside the update of the
# biases), variant 20 (five BN layers) 30 with 24. A change that puts the kernels' updates back
# on the main stream, or adds a kernel to a step, fails here; on a GPU,
# scripts/gpu-check.sh reports what cuBLAS made of the same step. Usage: graph_shape.sh
# DEEPDIGITS_EMULATED MNIST_DIR
source "$(dirname "$0")/cli_lib.sh" "$@"

# shape VARIANT: the DD_GRAPH_NODES line of a short run at batch 32, diagnostics off.
shape() {
    DD_GRAPH_NODES=1 "$dd" train --data "$mnist" --device gpu --engine layers --variant "$1" \
        --batch 32 --epochs 1 --subset 320 --verbose 0 --no-diagnostics 2>&1 >/dev/null |
        grep -m1 'graph nodes'
}

for want in "0:10 graph nodes, 10 kernels, 8 on its longest chain" \
    "20:30 graph nodes, 30 kernels, 24 on its longest chain"; do
    variant=${want%%:*}
    got=$(shape "$variant")
    [[ $got == *"batch 32: ${want#*:}" ]] || fail "variant $variant: '$got', wanted '${want#*:}'"
done
finish graph_shape

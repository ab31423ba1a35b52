#!/usr/bin/env bash
# On a GPU, `train` gives the CPU's numbers: the lab's network (batch 1) and variant 20 (batch 32)
# for two epochs on 3,000 images, with each engine (layers with graphs, layers without, fused by
# its rule, on a cluster of four SMs, and for the lab the pipelined warp step), every column of the history within rounding of the
# CPU's: loss and val_loss within 1e-4 relative, acc and val_acc within 3 samples, steps equal,
# the diagnostics within 1e-3 relative (the saturated fractions within 0.2%: a unit at the edge
# may tip either way). Then the
# checkpoint: `eval` of the GPU's model prints the val_loss the GPU measured, and a GPU run
# resumed after its first epoch ends with the weights of the uninterrupted one (within 1e-6).
# Skipped (77) without a CUDA device. Usage: gpu_cli.sh DEEPDIGITS MNIST_DIR
source "$(dirname "$0")/cli_lib.sh" "$@"
require_gpu gpu_cli
common=(--data "$mnist" --subset 3000 --epochs 2 --verbose 0)

# A finite number as the history and od print them. Anything else (nan, -nan, inf, a missing
# field) must fail a comparison, and awk cannot be trusted to: mawk's nan compares as equal to
# everything, so "d > tol" would pass it.
finite='^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$'

# same_history CPU.csv GPU.csv NAME: the columns after epoch agree (timings excepted).
same_history() {
    paste -d, "$1" "$2" | awk -F, -v name="$3" -v images=3000 -v finite="$finite" '
        NR == 1 { n = NF / 2; for (i = 1; i <= n; i++) column[i] = $i; next }
        {
            for (i = 2; i <= n; i++) {
                if (i == 6 || i == 7) continue # train_seconds, eval_seconds
                a = $i; b = $(i + n)
                if (a !~ finite || b !~ finite) {
                    printf "%s: epoch %d %s: cpu %s, gpu %s\n", name, $1, column[i], a, b; bad++
                    continue
                }
                d = a > b ? a - b : b - a; m = a < 0 ? -a : a
                tol = (i == 3) ? 3 / images : (i == 5) ? 3 / 10000 : (i <= 8) ? 1e-4 * m : 1e-3 * m + 1e-5
                if (column[i] ~ /^saturated/) tol = 2e-3
                if (d > tol) { printf "%s: epoch %d %s: cpu %s, gpu %s\n", name, $1, column[i], a, b; bad++ }
            }
        }
        END { exit bad > 0 }' || fail "$3: the GPU's history is not the CPU's"
}

for model in lab 20; do
    flags=()
    [[ $model == 20 ]] && flags=(--variant 20)
    "$dd" train "${common[@]}" "${flags[@]}" --device cpu --history "$tmp/cpu-$model.csv" \
        >"$tmp/log" 2>&1 || fail "$model on the CPU exited $?: $(tail -1 "$tmp/log")"
    for engine in layers layers-eager fused fused-4sm fused-pipe; do
        [[ $engine == fused-pipe && $model != lab ]] && continue # batch 1 only
        extra=(--engine "${engine%-*}")
        [[ $engine == layers-eager ]] && extra+=(--no-graphs)
        [[ $engine == fused-4sm ]] && extra+=(--fused-sms 4)
        [[ $engine == fused-pipe ]] && extra+=(--fused-pipe)
        "$dd" train "${common[@]}" "${flags[@]}" --device gpu "${extra[@]}" \
            --history "$tmp/$engine-$model.csv" --save "$tmp/$engine-$model.safetensors" \
            >"$tmp/log" 2>&1 || fail "$model, $engine: exited $?: $(tail -1 "$tmp/log")"
        same_history "$tmp/cpu-$model.csv" "$tmp/$engine-$model.csv" "$model, $engine"
    done
done

# eval (on the CPU) of the GPU's checkpoint: the val_loss of the GPU's last epoch.
want=$(tail -1 "$tmp/layers-lab.csv" | cut -d, -f4)
got=$("$dd" eval --model "$tmp/layers-lab.safetensors" --data "$mnist" | sed -n 's/^val_loss: \([0-9.]*\) .*/\1/p')
awk -v a="$want" -v b="$got" 'BEGIN { d = a - b; exit !(b != "" && d < 1.5e-4 && d > -1.5e-4) }' ||
    fail "eval of the GPU's checkpoint: val_loss $got, the GPU measured $want"

# The tensors of a safetensors file as numbers: everything after its 8-byte length and header.
tensors() { tail -c +$((9 + $(od -An -t u8 -N8 "$1"))) "$1" | od -An -v -t f4 -w4; }
for engine in layers fused; do
    "$dd" train "${common[@]}" --epochs 1 --device gpu --engine $engine \
        --save "$tmp/half.safetensors" >"$tmp/log" 2>&1 || fail "$engine, epoch 1: $(tail -1 "$tmp/log")"
    "$dd" train --resume "$tmp/half.safetensors" --epochs 2 --data "$mnist" --verbose 0 \
        --device gpu --engine $engine --save "$tmp/resumed.safetensors" >"$tmp/log" 2>&1 ||
        fail "$engine, resumed: $(tail -1 "$tmp/log")"
    paste <(tensors "$tmp/$engine-lab.safetensors") <(tensors "$tmp/resumed.safetensors") |
        awk -v finite="$finite" '$1 !~ finite || $2 !~ finite { bad++; next }
            { d = $1 - $2; if (d < 0) d = -d; if (d > 1e-6) bad++ } END { exit bad > 0 || NR == 0 }' ||
        fail "$engine: resumed after epoch 1, the weights differ from the uninterrupted run's"
done
finish gpu_cli

#!/usr/bin/env bash
# `train --variant all` on a small subset: 21 run folders, each with its four files, a summary
# table naming every model, and diagnostic columns that exist and are finite in every history;
# one model at a time by default on the CPU; with --jobs 3 the same weights and the same
# loss/accuracy columns, model for model.
# Usage: variants_all.sh DEEPDIGITS MNIST_DIR OUT
source "$(dirname "$0")/cli_lib.sh" "$@"
out=$3
rm -rf "$out"

"$dd" train --variant all --data "$mnist" --subset 6000 --epochs 1 --device cpu --verbose 2 \
    --out "$out" >"$out.log" 2>&1 || { fail "train --variant all exited $?:"; tail -5 "$out.log"; }
# Without --jobs the CPU trains one model at a time, its epochs on the console under a heading.
[[ $(grep -cE '^== (baseline|variant-[0-9]{2}) \([0-9]+ of 21\) ==$' "$out.log") -eq 21 ]] ||
    fail "not 21 models one at a time, each under its heading"
runs=(baseline $(printf 'variant-%02d ' $(seq 1 20)))
[[ $(find "$out" -mindepth 1 -maxdepth 1 -type d | wc -l) -eq 21 ]] || fail "not 21 run folders"
for run in "${runs[@]}"; do
    for f in config.json history.csv log.txt model.safetensors; do
        [[ -s $out/$run/$f ]] || fail "$run: no $f"
    done
    grep -q "^$run " "$out.log" || fail "$run missing from the summary table"
    h=$out/$run/history.csv
    layers=$(grep -o '"hidden": \[[^]]*\]' "$out/$run/config.json" | grep -o '[0-9]\+' | wc -l)
    for kind in grad_rms saturated preact_mean preact_std; do
        for l in $(seq 1 $((layers + 1))); do
            head -1 "$h" | tr ',' '\n' | grep -qx "${kind}_dense_$l" || fail "$run: no ${kind}_dense_$l"
        done
    done
    # Every field of every row a finite number.
    awk -F, 'NR > 1 { for (i = 1; i <= NF; i++) if ($i !~ /^-?[0-9.]+(e[-+]?[0-9]+)?$/) bad++ }
             END { exit bad > 0 || NR != 2 }' "$h" || fail "$run: history not one row of finite numbers"
done
# The tensors of a safetensors file: everything after its 8-byte length and its header.
tensors() { tail -c +$((9 + $(od -An -t u8 -N8 "$1"))) "$1"; }
"$dd" train --variant all --data "$mnist" --subset 6000 --epochs 1 --device cpu --verbose 2 \
    --jobs 3 --out "$tmp/jobs" >"$tmp/jobs.log" 2>&1 || fail "--jobs 3 exited $?: $(tail -2 "$tmp/jobs.log")"
# With --jobs the epochs go to each run's log.txt only; the console gets a line as each finishes.
[[ $(grep -cE ' val_acc [01]\.[0-9]{4} after 1 epoch, [0-9.]+ s \([0-9]+ of 21 done\)$' "$tmp/jobs.log") -eq 21 &&
   $(grep -c '^== ' "$tmp/jobs.log") -eq 0 ]] || fail "--jobs 3: not one line a finished model"
for run in "${runs[@]}"; do
    cmp -s <(tensors "$out/$run/model.safetensors") <(tensors "$tmp/jobs/$run/model.safetensors") ||
        fail "$run: --jobs 3 gives other weights than one model at a time"
    cmp -s <(cut -d, -f1-5 "$out/$run/history.csv") <(cut -d, -f1-5 "$tmp/jobs/$run/history.csv") ||
        fail "$run: --jobs 3 gives another history"
done
finish variants_all

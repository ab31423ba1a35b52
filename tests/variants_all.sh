#!/usr/bin/env bash
# `train --variant all` on a small subset: 21 run folders, each with its four files, a summary
# table naming every model, and diagnostic columns that exist and are finite in every history.
# Usage: variants_all.sh DEEPDIGITS MNIST_DIR OUT
source "$(dirname "$0")/cli_lib.sh" "$@"
out=$3
rm -rf "$out"

"$dd" train --variant all --data "$mnist" --subset 6000 --epochs 1 --device cpu --verbose 0 \
    --out "$out" >"$out.log" 2>&1 || { fail "train --variant all exited $?:"; tail -5 "$out.log"; }
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
finish variants_all

#!/usr/bin/env bash
# deepdigits-bench --phases end to end (on the emulated device, or a GPU): the lab's network at
# batch 1 (the warp step: two phases; pipelined: its two paths) and variant 20 at batch 32 on one SM, two
# and four (the general step: 13 phases, BN's included), each phase named and timed, and the
# shares adding up to 100%. Usage: phases_check.sh DEEPDIGITS_BENCH MNIST_DIR
set -u
bench=$1 mnist=$2
out=$("$bench" --phases --models 0,20 --batch 1,32 --steps 3 --data "$mnist" 2>&1)
rc=$?
fail() { printf 'phases_check: %s\n%s\n' "$1" "$out"; exit 1; }
((rc == 0)) || fail "exited $rc"
grep -q 'skipped: no CUDA device' <<<"$out" && { echo "$out"; exit 77; }
# section HEADER PHASES: the lines under HEADER up to the next configuration.
section() { awk -v h="$1" 'index($0, h) == 1 { on = 1; next } on && !/^  phase/ { exit } on' <<<"$out"; }
check() {
    local header=$1 phases=$2 lines
    grep -q "^$header.*cycles a step" <<<"$out" || fail "no step line for '$header'"
    lines=$(section "$header")
    (($(grep -c . <<<"$lines") == phases)) || fail "'$header': not $phases phases"
    awk '{ gsub("%", "", $5); total += $5; if ($3 <= 0) bad = 1 }
         END { exit bad || total < 99.5 || total > 100.5 }' <<<"$lines" ||
        fail "'$header': a phase untimed, or the shares do not add up to 100%"
}
check "baseline, batch 1, 1 SM:" 2
check "baseline, batch 1, 1 SM, pipelined:" 2
check "variant-20, batch 32, 1 SM" 13
check "variant-20, batch 32, 2 SMs" 13
check "variant-20, batch 32, 4 SMs" 13
grep -q "^variant-20, batch 1, 1 SM: skipped: BN needs batch >= 2" <<<"$out" ||
    fail "variant 20 at batch 1 not skipped for BN"
grep -q "^variant-20, batch 32, 1 SM, pipelined: skipped: the pipelined warp step takes batch 1" \
    <<<"$out" || fail "variant 20 at batch 32 not skipped by the pipelined warp step"
echo "$out"

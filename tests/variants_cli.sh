#!/usr/bin/env bash
# The presets on the command line: parameter counts in the summary, explicit flags overriding a
# preset wherever they stand, BN at batch 1 refused in one line (and allowed on request), and
# one model written into a run folder. Usage: variants_cli.sh DEEPDIGITS MNIST_DIR
source "$(dirname "$0")/cli_lib.sh" "$@"
small=(--data "$mnist" --subset 300 --epochs 1 --device cpu)

# Parameter counts as Keras's model.summary() prints them.
expect_params() {
    local variant=$1 total=$2 trainable=$3
    "$dd" train "${small[@]}" --variant "$variant" >"$tmp/out" 2>&1 || fail "--variant $variant exited $?"
    grep -qF "Total params: $total" "$tmp/out" && grep -qF "Trainable params: $trainable" "$tmp/out" \
        || { fail "--variant $variant: want $total / $trainable:"; grep params "$tmp/out"; }
}
expect_params 0 19,885 19,885
expect_params 7 21,485 21,335
expect_params 16 22,985 22,735

# BN placement in the summary: an Activation layer after BN for odd variants, none for even.
"$dd" train "${small[@]}" --variant 3 >"$tmp/odd" 2>&1
"$dd" train "${small[@]}" --variant 4 >"$tmp/even" 2>&1
[[ $(grep -c 'activation_[0-9] (Activation)' "$tmp/odd") -eq 2 ]] || fail "variant 3: want 2 Activation layers"
[[ $(grep -c '(Activation)' "$tmp/even") -eq 0 ]] || fail "variant 4: want no Activation layer"

# BN at batch 1: one line on stderr that says why, a non-zero exit; allowed on request.
for order in "--variant 5 --batch 1" "--batch 1 --variant 5" "--bn before --init glorot_uniform"; do
    # shellcheck disable=SC2086
    "$dd" train "${small[@]}" $order >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [[ $rc -eq 0 || $(wc -l <"$tmp/err") -ne 1 ]] || ! grep -q 'variance.*--batch 32' "$tmp/err"; then
        fail "BN at batch 1 ($order) not refused in one line (exit $rc):"; cat "$tmp/err"
    fi
done
"$dd" train "${small[@]}" --variant 5 --batch 1 --allow-bn-batch1 >"$tmp/out" 2>"$tmp/err" \
    || { fail "--allow-bn-batch1 refused:"; cat "$tmp/err"; }
# A training set of one image makes one-sample batches at any --batch: refused, alone or in a
# run folder (found once the images are loaded).
few_training_images "$mnist" "$tmp/one-image" 1
expect_error "BatchNormalization with a training set of one image cannot learn" \
    train --data "$tmp/one-image" --epochs 1 --device cpu --variant 5 --batch 32
expect_error "BatchNormalization with a training set of one image cannot learn" \
    train --data "$tmp/one-image" --epochs 1 --device cpu --variant 5 --batch 32 --out "$tmp/one-bn"
expect_error "BatchNormalization with --subset 1 cannot learn" \
    train "${small[@]}" --variant 5 --batch 32 --subset 1
"$dd" train --data "$tmp/one-image" --epochs 1 --device cpu --variant 0 >/dev/null 2>"$tmp/err" ||
    fail "the baseline (no BN) on one image: $(cat "$tmp/err")"

# Explicit flags override the preset on either side of it; one model into a run folder.
"$dd" train "${small[@]}" --batch 8 --variant 9 --out "$tmp/one" --width 30 --activation relu \
    >"$tmp/out" 2>"$tmp/err" || { fail "--out run failed:"; cat "$tmp/err"; }
for f in config.json history.csv log.txt model.safetensors; do
    [[ -s $tmp/one/$f ]] || fail "--out: no $f"
done
cfg=$tmp/one/config.json
grep -q '"batch": 8,' "$cfg" || fail "--batch 8 before --variant 9 lost"
grep -q '"hidden": \[30, 30, 30\]' "$cfg" || fail "--width 30 not applied to every hidden layer"
grep -q '"activation": "relu"' "$cfg" || fail "--activation relu lost"
grep -q '"bn": "before"' "$cfg" || fail "variant 9's BN placement lost"
grep -qF 'Epoch 1/1' "$tmp/one/log.txt" || fail "log.txt lacks train's output"

# A custom model's name is its folder's, cut to 63 bytes at a character's start: a long folder
# name in Cyrillic (2 bytes a letter) leaves no half letter in config.json, and the report reads
# the run back under that name.
long="эксперимент_с_тремя_скрытыми_слоями_и_нормализацией"
cut="эксперимент_с_тремя_скрытыми_слоя" # 62 bytes; the next letter would make 64
"$dd" train "${small[@]}" --out "$tmp/cyr/$long" >/dev/null 2>"$tmp/err" ||
    { fail "--out into a Cyrillic folder failed:"; cat "$tmp/err"; }
name=$(grep -o '"name": "[^"]*"' "$tmp/cyr/$long/config.json" | cut -d'"' -f4)
[[ $name == "$cut" ]] || fail "the name in config.json is '$name', not '$cut'"
PATH=/nonexistent "$dd" report "$tmp/cyr" >"$tmp/out" 2>"$tmp/err" ||
    { fail "report of the Cyrillic run exited $?:"; cat "$tmp/err"; }
grep -qF "best $cut (" "$tmp/out" || { fail "the report does not name the run:"; cat "$tmp/out" "$tmp/err"; }
# A tab, DEL and a Latin-1 byte in folder names: the names are written as a_b, d_e and caf?,
# which the report reads back.
for folder in $'a\tb' $'d\x7fe' $'caf\xe9'; do
    "$dd" train "${small[@]}" --out "$tmp/names/$folder" >/dev/null 2>"$tmp/err" ||
        { fail "--out into an odd folder name failed:"; cat "$tmp/err"; }
done
PATH=/nonexistent "$dd" report "$tmp/names" >"$tmp/out" 2>"$tmp/err" || { fail "report exited $?"; cat "$tmp/err"; }
grep -q '^deepdigits report: 3 runs' "$tmp/out" || { fail "odd folder names:"; cat "$tmp/out" "$tmp/err"; }
grep -qF '"name": "a_b"' "$tmp/names/"a*/config.json || fail "a tab in the name was not written as _"
grep -qF '"name": "caf?"' "$tmp/names/"caf*/config.json || fail "a Latin-1 byte was not written as ?"
grep -qF '"name": "d_e"' "$tmp/names/"d*/config.json || fail "DEL in the name was not written as _"

# Trained again into the same folder and stopped by SIGINT after its first epoch: the earlier
# run's model is gone (the folder now holds an unfinished run), the exit status is the shell's
# 130, log.txt has the lines written before the signal, and the checkpoint is in the run's folder
# (not in the current folder, where runs started side by side would overwrite each other's).
(cd "$tmp" && exec "$dd" train --data "$mnist" --subset 3000 --epochs 200 --device cpu \
    --out "$tmp/one" >/dev/null 2>"$tmp/again.err") &
pid=$!
started=0 # the second epoch's line: the handler is in place (a background job starts with
          # SIGINT ignored, so a signal before it would be lost)
for _ in $(seq 1200); do
    grep -q 'Epoch 2/200' "$tmp/one/log.txt" 2>/dev/null && started=1 && break
    sleep 0.1
done
if ((started)); then
    kill -INT $pid
    wait $pid
    rc=$?
    [[ $rc -eq 130 ]] || fail "--out stopped by SIGINT exited $rc, not 130: $(cat "$tmp/again.err")"
    grep -q "interrupted by SIGINT.*checkpoint saved to $tmp/one/interrupted.safetensors" \
        "$tmp/again.err" || fail "no line about the interrupted run: $(cat "$tmp/again.err")"
    [[ -s $tmp/one/interrupted.safetensors && ! -e $tmp/deepdigits-interrupted.safetensors ]] ||
        fail "the interrupted run's checkpoint is not in its folder"
else
    kill -KILL $pid
    wait $pid
    fail "the second epoch never started in 120 s: $(cat "$tmp/again.err")"
fi
[[ ! -e $tmp/one/model.safetensors ]] || fail "the earlier run's model.safetensors is still there"
grep -q 'Epoch 2/200' "$tmp/one/log.txt" || fail "log.txt lost the lines before the signal"

expect_one_line() {
    local word=$1; shift
    "$dd" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [[ $rc -ne 0 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -qF -- "$word" "$tmp/err" \
        || { fail "$* -> exit $rc, wanted one line naming '$word':"; cat "$tmp/err"; }
}
# Trained again to the end, the folder loses the interrupted run's checkpoint.
"$dd" train "${small[@]}" --out "$tmp/one" >/dev/null 2>&1 || fail "training into one again"
[[ ! -e $tmp/one/interrupted.safetensors ]] || fail "a finished run kept the earlier checkpoint"
# A bad --subset is found before the earlier run's model is removed.
expect_one_line "--subset 70000: the training set has 60000 images" train --data "$mnist" \
    --device cpu --epochs 1 --subset 70000 --out "$tmp/one"
[[ -e $tmp/one/model.safetensors ]] || fail "a refused --subset removed the earlier model"

# A folder named with a trailing slash, or as ".", gives the run the folder's own name.
"$dd" train "${small[@]}" --out "$tmp/slash/mine/" >/dev/null 2>&1 || fail "--out mine/ failed"
grep -qF '"name": "mine"' "$tmp/slash/mine/config.json" || fail "--out mine/: $(grep name "$tmp/slash/mine/config.json")"
(cd "$tmp/slash/mine" && "$dd" train "${small[@]}" --out . >/dev/null 2>&1) || fail "--out . failed"
grep -qF '"name": "mine"' "$tmp/slash/mine/config.json" || fail "--out .: $(grep name "$tmp/slash/mine/config.json")"

# --variant all trained again into a folder of earlier runs removes all their models before it
# trains the first: stopped part way, it leaves none of them for the report to mix in. (The first
# run asks for more --jobs than there are models: one thread a model, ASan checks no more.)
"$dd" train "${small[@]}" --subset 50 --variant all --out "$tmp/lab" --verbose 0 --jobs 64 \
    >/dev/null 2>&1 || fail "--variant all on 50 images, --jobs 64"
[[ $(find "$tmp/lab" -name model.safetensors | wc -l) -eq 21 ]] || fail "not 21 models"
(exec "$dd" train --data "$mnist" --subset 3000 --epochs 50 --device cpu --variant all \
    --out "$tmp/lab" --jobs 1 >/dev/null 2>&1) &
pid=$!
for _ in $(seq 600); do
    grep -q 'Epoch 2/50' "$tmp/lab/baseline/log.txt" 2>/dev/null && break
    sleep 0.1
done
kill -TERM $pid
wait $pid
[[ $(find "$tmp/lab" -name model.safetensors | wc -l) -eq 0 ]] ||
    fail "a stopped re-run left earlier models: $(find "$tmp/lab" -name model.safetensors)"

expect_one_line "--out '': not a folder name" train "${small[@]}" --variant all --out ''
touch "$tmp/afile"
expect_one_line "$tmp/afile: not a folder" train "${small[@]}" --variant 3 --out "$tmp/afile"
# --variant all into a file: no earlier model to remove there, and no folder to make.
expect_one_line "$tmp/afile/baseline: cannot create the folder: Not a directory" train \
    "${small[@]}" --variant all --out "$tmp/afile"
expect_one_line "--variant 21" train "${small[@]}" --variant 21
expect_one_line "--out" train "${small[@]}" --variant all
expect_one_line "--width" train "${small[@]}" --width 0
expect_one_line "--save does not combine with --out" train "${small[@]}" --variant all \
    --out "$tmp/all" --save "$tmp/x.safetensors"
expect_one_line "--out cannot be combined with --resume" train "${small[@]}" --out "$tmp/one" \
    --resume "$tmp/x.safetensors"

# config.json names the data folder by its absolute path: a path too long for it is refused
# before anything is written, never cut (the report would evaluate on another folder).
d250=$(printf 'd%.0s' {1..250})
long_data=$tmp/$d250/$d250/$d250/$d250/$d250
mkdir -p "$long_data" && ln -s "$mnist"/* "$long_data"/
expect_error "the data folder's path is" train --data "$long_data" --subset 300 --epochs 1 \
    --device cpu --out "$tmp/long-data"
[[ ! -e $tmp/long-data ]] || fail "a refused data folder still made the run folder"
bad_name=$tmp/$'data\xff'
mkdir "$bad_name" && ln -s "$mnist"/* "$bad_name"/
expect_error "the data folder's path is not UTF-8 text" train --data "$bad_name" --subset 300 \
    --epochs 1 --device cpu --out "$tmp/latin1-data"
[[ ! -e $tmp/latin1-data ]] || fail "a refused data folder still made the run folder"

finish variants_cli

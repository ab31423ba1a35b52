#!/usr/bin/env bash
# `deepdigits report` on the runs variants_all.sh wrote: valid PNGs (the 8-byte signature), a
# report.md and report.html naming all 21 models and the best one's confusion matrix; then,
# with gnuplot off PATH, the text report all the same and one line naming the missing plots;
# then runs left out, odd names, a run folder holding runs, and paths at train's length limit.
# Usage: report.sh DEEPDIGITS RUNS
source "$(dirname "$0")/cli_lib.sh" "$@"
runs=$2
png_ok() { [[ $(head -c 8 "$1" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]]; }

rm -rf "$runs/plots" "$runs/report.md" "$runs/report.html"
"$dd" report "$runs" >"$runs/report.log" 2>&1 || { fail "report exited $?:"; cat "$runs/report.log"; }
# The misclassified digits are drawn by deepdigits itself; everything else by gnuplot, which CI
# installs (a machine without it, such as the GPU machine, checks the rest and skips the test).
png_ok "$runs/plots/misclassified.png" || fail "plots/misclassified.png is not a PNG"
have_gnuplot=$(command -v gnuplot)
if [[ -n $have_gnuplot ]]; then
    for png in val_acc final_val_acc grad_rms saturation confusion baseline-curves variant-20-curves; do
        png_ok "$runs/plots/$png.png" || fail "plots/$png.png is not a PNG"
    done
    for svg in val_acc final_val_acc confusion; do
        grep -q '<svg' "$runs/plots/$svg.svg" 2>/dev/null || fail "plots/$svg.svg is not an SVG"
    done
    n=$(find "$runs/plots" -maxdepth 1 -name '*.png' | wc -l)
    [[ $n -eq 27 ]] || fail "$n PNG files, want 27 (21 curves, 5 summaries, misclassified)"
    ! grep -q 'gnuplot' "$runs/report.log" || { fail "gnuplot complained:"; cat "$runs/report.log"; }
fi
for doc in report.md report.html; do
    for run in baseline $(printf 'variant-%02d ' $(seq 1 20)); do
        grep -q "$run" "$runs/$doc" || fail "$doc does not name $run"
    done
done
grep -q 'keras.layers.BatchNormalization()' "$runs/report.md" || fail "report.md lacks the Keras fragments"
grep -q 'true \\ predicted' "$runs/report.md" || fail "report.md lacks the confusion matrix"
grep -q 'Rows: true digit; columns: predicted' "$runs/report.md" || fail "report.md: rows not digits"

# A --data folder report cannot use is an error that leaves the report before it whole: its text
# and every plot the text links (they were removed before the evaluation failed).
cp "$runs/report.md" "$tmp/report-before.md"
expect_error "/nonexistent" report --data /nonexistent "$runs"
cmp -s "$runs/report.md" "$tmp/report-before.md" || fail "a failed report --data changed report.md"
for png in $(grep -o 'plots/[^)]*\.png' "$runs/report.md"); do
    [[ -f $runs/$png ]] || fail "report.md links $png, which the failed report --data removed"
done

# Without gnuplot: the text report, and exactly one line naming what is missing. The plots of
# the report before are removed, not linked as if this one had drawn them.
rm -f "$runs/report.md"
touch "$runs/plots/variant-99-curves.png"
PATH=/nonexistent "$dd" report "$runs" >"$runs/report-nognuplot.log" 2>&1 \
    || fail "report without gnuplot exited $?"
[[ -z $(find "$runs/plots" -name '*.png' ! -name misclassified.png) ]] ||
    fail "an earlier report's plots are left: $(find "$runs/plots" -name '*.png')"
! grep -q 'val_acc.png' "$runs/report.md" || fail "report.md links a plot this report did not draw"
[[ $(grep -c 'gnuplot not found' "$runs/report-nognuplot.log") -eq 1 ]] \
    || { fail "no single line about the missing gnuplot:"; cat "$runs/report-nognuplot.log"; }
grep -q variant-20 "$runs/report.md" 2>/dev/null || fail "no report.md without gnuplot"
[[ -z $(find "$runs/plots" -name '*.svg') ]] || fail "SVGs without gnuplot?"

# A --data folder given and unreadable is an error, found before the report is written.
rm -rf "$runs/plots" "$runs/report.md"
expect_error "/nonexistent" report --data /nonexistent "$runs"
[[ ! -e $runs/report.md ]] || fail "report.md written despite the bad --data"

# So is a --data folder with other training images than the runs were trained on: the best model
# is not scored on another dataset's test set.
mnist_dir=$(sed -n 's/^  "data": "\(.*\)",$/\1/p' "$runs/baseline/config.json")
other_training_images "$mnist_dir" "$tmp/other"
expect_error "the training images differ from the checkpoint's" report --data "$tmp/other" "$runs"
[[ ! -e $runs/report.md ]] || fail "report.md written despite the other training images"

# A run stopped part way (Ctrl-C under --variant all: no model.safetensors) is left out, on
# stderr, and the report covers the others.
part="$tmp/partial"
cp -r "$runs" "$part"
rm "$part/variant-03/model.safetensors"
# And a history with more epochs than its config.json (not this run's) is left out too.
tail -1 "$part/variant-04/history.csv" >>"$part/variant-04/history.csv"
PATH=/nonexistent "$dd" report "$part" >"$tmp/out" 2>"$tmp/err" || fail "report of 19 runs exited $?"
grep -q 'skipping .*variant-03: the run did not finish' "$tmp/err" ||
    { fail "the stopped run was not named on stderr:"; cat "$tmp/err"; }
grep -q 'skipping .*variant-04: history.csv has [0-9]* epochs, config.json' "$tmp/err" ||
    { fail "the run with a longer history was not named on stderr:"; cat "$tmp/err"; }
grep -q '19 runs' "$tmp/out" || { fail "not 19 runs:"; cat "$tmp/out"; }
! grep -q 'variant-03' "$part/report.md" || fail "report.md names the stopped run"
# A gnuplot that fails on every plot: one line for each, the text report all the same, and then
# the error, with exit status 1.
mkdir -p "$tmp/bin"
printf '#!/bin/sh\necho "gnuplot: broken" >&2\nexit 1\n' >"$tmp/bin/gnuplot"
chmod +x "$tmp/bin/gnuplot"
PATH=$tmp/bin:$PATH "$dd" report "$part" >"$tmp/out" 2>"$tmp/err"
rc=$?
[[ $rc -eq 1 ]] || fail "report with a failing gnuplot exited $rc, expected 1"
tail -1 "$tmp/err" | grep -q '^deepdigits report: [0-9]* plots failed in gnuplot' ||
    { fail "no last line counting the failed plots:"; cat "$tmp/err"; }
[[ $(grep -c 'gnuplot failed on plots/scripts/' "$tmp/err") -ge 19 ]] ||
    fail "fewer than one line for each run's failed plot: $(cat "$tmp/err")"
grep -q variant-20 "$part/report.md" || fail "no report.md with a failing gnuplot"
! grep -q 'val_acc.png' "$part/report.md" || fail "report.md links a plot gnuplot failed on"
# A --data folder with the runs' training images and a test set of its own: the text says how
# many test images the best model was scored on.
few_test_images "$mnist_dir" "$tmp/few-test" 500
PATH=/nonexistent "$dd" report --data "$tmp/few-test" "$part" >"$tmp/out" 2>"$tmp/err" ||
    { fail "report --data with 500 test images exited $?:"; cat "$tmp/err"; }
grep -q 'evaluated again on the 500 test images: accuracy' "$part/report.md" ||
    fail "not scored on the 500 test images: $(grep 'evaluated again' "$part/report.md")"

# Runs trained with --no-diagnostics (their history.csv cut to the first 8 columns): no per-layer
# plots to fail in gnuplot, and no section about numbers that are not there.
if [[ -n $have_gnuplot ]]; then
    plain="$tmp/plain"
    cp -r "$runs" "$plain"
    rm -rf "$plain/plots" "$plain/report.md" "$plain/report.html"
    for h in "$plain"/*/history.csv; do cut -d, -f1-8 "$h" >"$h.cut" && mv "$h.cut" "$h"; done
    "$dd" report "$plain" >"$tmp/out" 2>"$tmp/err" || fail "report without diagnostics exited $?"
    ! grep -q 'gnuplot failed' "$tmp/err" || { fail "gnuplot failed without diagnostics:"; cat "$tmp/err"; }
    ! grep -q 'Saturation and vanishing gradients' "$plain/report.md" ||
        fail "report.md has the diagnostics section without diagnostics"
    [[ ! -e $plain/plots/grad_rms.png ]] || fail "a grad_rms plot without diagnostics"
fi
# Names are labels, not file names: a quote, spaces, a name the summary's files use, two names
# that differ only in such characters, one written to break out of gnuplot's quotes and one
# with a table's | all plot (files under a stem of [A-Za-z0-9._-], made unique) and are shown as
# written.
if [[ -n $have_gnuplot ]]; then
    odd="$tmp/odd"
    cp -r "$runs" "$odd"
    rm -rf "$odd/plots" "$odd/report.md" "$odd/report.html"
    rename_run() { sed -i "s/\"name\": \"$1\"/\"name\": \"$2\"/" "$odd/$1/config.json"; }
    rename_run variant-05 "it's a run"
    rename_run variant-06 "it's_a run"
    rename_run variant-07 final
    rename_run variant-08 "x'; system('touch PWNED'); '"
    rename_run variant-09 'pipe|name'
    rename_run variant-10 wide
    rename_run variant-11 wide-layers
    (cd "$odd" && "$dd" report . >"$tmp/out" 2>"$tmp/err") || fail "report of odd names exited $?"
    ! grep -q 'gnuplot failed' "$tmp/err" || { fail "gnuplot failed on odd names:"; cat "$tmp/err"; }
    [[ ! -e $odd/PWNED && ! -e $odd/plots/PWNED ]] || fail "a run's name ran a command in gnuplot"
    for stem in it_s_a_run it_s_a_run-2 final-2 x___system__touch_PWNED_____; do
        png_ok "$odd/plots/$stem-curves.png" || fail "plots/$stem-curves.png is not a PNG"
        grep -q "plots/$stem-curves.png" "$odd/report.md" || fail "report.md does not show $stem"
    done
    grep -q "titles\[[0-9]*\] = 'it''s a run'" "$odd/plots/scripts/val_acc.gp" ||
        fail "val_acc.gp does not title the run as named"
    [[ $(wc -l <"$odd/plots/data/final.dat") -eq 21 ]] || fail "data/final.dat was overwritten"
    # Per-layer data has a folder of its own: a run named wide-layers does not overwrite wide's.
    [[ $(head -1 "$odd/plots/data/layers/wide.dat") == '# layer grad_rms_first'* ]] ||
        fail "data/layers/wide.dat is not wide's per-layer data"
    [[ $(head -1 "$odd/plots/data/wide-layers.dat") == '# epoch loss'* ]] ||
        fail "data/wide-layers.dat is not the run wide-layers' data"
    grep -qF '| pipe\|name |' "$odd/report.md" || fail "report.md does not escape a | in a name"
    grep -qF '<td>pipe|name</td>' "$odd/report.html" || fail "report.html splits a name at its |"
fi

# A run folder whose files are not what train writes is left out, with the field or row named.
bad="$tmp/bad"
cp -r "$runs" "$bad"
sed -i 's/"variant": 9,/"variant": 99,/' "$bad/variant-09/config.json"
sed -i '2s/^1,[^,]*,/1,oops,/' "$bad/variant-10/history.csv"
# A run that never beats val_acc 0 has its best at epoch 1, as Keras' ModelCheckpoint keeps it.
awk -F, -v OFS=, 'NR > 1 { $5 = 0 } 1' "$bad/variant-12/history.csv" >"$tmp/h" &&
    mv "$tmp/h" "$bad/variant-12/history.csv"
PATH=/nonexistent "$dd" report "$bad" >"$tmp/out" 2>"$tmp/err" || fail "report of 19 good runs exited $?"
grep -q 'skipping .*variant-09: .*config.json: not a deepdigits config.json: "variant" out of range' \
    "$tmp/err" || { fail "the bad config.json was not named:"; cat "$tmp/err"; }
grep -q "skipping .*variant-10: .*history.csv: row 1, column loss: 'oops' is not a number" \
    "$tmp/err" || { fail "the bad history.csv was not named:"; cat "$tmp/err"; }
grep -q '19 runs' "$tmp/out" || { fail "not 19 runs:"; cat "$tmp/out"; }
grep -q '^| variant-12 | .* | 0.0000 | 0.0000 (1) |' "$bad/report.md" ||
    fail "variant-12, val_acc 0 throughout: not best at epoch 1: $(grep '^| variant-12' "$bad/report.md")"

# A folder that is itself a run folder and holds run folders too: all of them are reported (the
# top one under its own name), and one line says so; none is hidden behind the other.
nested="$tmp/nested"
cp -r "$runs" "$nested"
cp "$runs/baseline/"{config.json,history.csv,model.safetensors} "$nested/"
sed -i 's/"name": "baseline"/"name": "outer"/' "$nested/config.json"
PATH=/nonexistent "$dd" report "$nested" >"$tmp/out" 2>"$tmp/err" || fail "nested report exited $?"
grep -q '22 runs' "$tmp/out" || { fail "a run folder holding runs: not 22 runs:"; cat "$tmp/out"; }
[[ $(grep -c "is itself a run folder (outer) and holds 21 more" "$tmp/out") -eq 1 ]] ||
    { fail "no single line naming the run folder that holds runs:"; cat "$tmp/out" "$tmp/err"; }
for run in outer baseline variant-20; do
    grep -q "$run" "$nested/report.md" 2>/dev/null || fail "nested report.md does not name $run"
done
grep -q 'is itself a run folder' "$nested/report.md" 2>/dev/null ||
    fail "report.md does not say its folder is a run folder too"

# Paths: a run folder train can write (DD_RUN_PATH_LEN - 1 = 1023 bytes) is one report reads,
# alone or under its folder; a longer one, the folder or a run inside it, is one error line,
# never a path cut short (which would read, or write, another folder).
# path_of_length N: a folder name under $tmp exactly N bytes long, in components of 200 bytes.
path_of_length() {
    local p=$tmp/long left
    while left=$(($1 - ${#p} - 1)); ((left > 201)); do p+=/$(printf '%0200d' 0); done
    echo "$p/$(printf "%0${left}d" 0)"
}
mnist_dir=$(sed -n 's/^  "data": "\(.*\)",$/\1/p' "$runs/baseline/config.json")
top=$(path_of_length 1014) # top/baseline: 1023 bytes
"$dd" train --out "$top/baseline" --epochs 1 --subset 64 --data "$mnist_dir" --verbose 0 \
    --no-diagnostics >"$tmp/out" 2>&1 || { fail "train into 1023 bytes exited $?:"; cat "$tmp/out"; }
"$dd" report "$top/baseline" >"$tmp/out" 2>"$tmp/err" ||
    { fail "report of a 1023-byte run folder exited $?:"; cat "$tmp/err"; }
grep -q '1 run;' "$tmp/out" || { fail "the 1023-byte run folder was not read:"; cat "$tmp/out"; }
[[ -s $top/baseline/report.md ]] || fail "no report.md in the 1023-byte run folder"
! grep -q 'gnuplot failed' "$tmp/err" || { fail "gnuplot failed at 1023 bytes:"; cat "$tmp/err"; }
"$dd" report "$top" >"$tmp/out" 2>"$tmp/err" ||
    { fail "report of a folder holding a 1023-byte run exited $?:"; cat "$tmp/err"; }
grep -q '1 run;' "$tmp/out" ||
    { fail "the 1023-byte run under its folder was not read:"; cat "$tmp/out"; }
expect_error "path too long" train --out "$top/baseline0" --epochs 1 --subset 64 \
    --data "$mnist_dir" --verbose 0
rm -rf "$top/report.md" "$top/report.html" "$top/plots" "$top/baseline/report.md"
cp -r "$top/baseline" "$top/baseline0" # 1024 bytes: more than train writes
expect_error "path too long" report "$top/baseline0"
expect_error "path too long" report "$top"
[[ ! -e $top/baseline0/report.md && ! -e $top/report.md ]] ||
    fail "a report written for a folder whose path is too long, or that holds one"

# A Fashion-MNIST run (its checkpoint says so): the report speaks of classes and names them,
# not of digits.
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
    "$dd" train --dataset fashion --out "$tmp/fashion/run" --epochs 1 --subset 300 --device cpu \
        --verbose 0 --no-diagnostics >"$tmp/out" 2>&1 || { fail "fashion train exited $?:"; cat "$tmp/out"; }
    PATH=/nonexistent "$dd" report "$tmp/fashion" >"$tmp/out" 2>"$tmp/err" ||
        { fail "report of a Fashion-MNIST run exited $?:"; cat "$tmp/err"; }
    md=$tmp/fashion/report.md
    grep -q 'Rows: true class; columns: predicted' "$md" || fail "Fashion report.md: rows not classes"
    grep -q 'The classes (Fashion-MNIST): 0 T-shirt/top, .* 9 Ankle boot\.' "$md" ||
        fail "Fashion report.md does not name the classes"
    grep -q 'misclassified test images' "$md" || fail "Fashion report.md: misclassified digits"
    ! grep -qiwE 'digits?' "$md" || fail "Fashion report.md speaks of digits: $(grep -iwE 'digits?' "$md")"
fi

if ((failures == 0)) && [[ -z $have_gnuplot ]]; then
    echo "skipped: gnuplot is not installed, so its plots were not checked (the rest passed)"
    exit 77
fi
finish report

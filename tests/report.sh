#!/usr/bin/env bash
# `deepdigits report` on the runs variants_all.sh wrote: valid PNGs (the 8-byte signature), a
# report.md and report.html naming all 21 models and the best one's confusion matrix; then,
# with gnuplot off PATH, the text report all the same and one line naming the missing plots.
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

# Without gnuplot: the text report, and exactly one line naming what is missing.
rm -rf "$runs/plots" "$runs/report.md"
PATH=/nonexistent "$dd" report "$runs" >"$runs/report-nognuplot.log" 2>&1 \
    || fail "report without gnuplot exited $?"
[[ $(grep -c 'gnuplot not found' "$runs/report-nognuplot.log") -eq 1 ]] \
    || { fail "no single line about the missing gnuplot:"; cat "$runs/report-nognuplot.log"; }
grep -q variant-20 "$runs/report.md" 2>/dev/null || fail "no report.md without gnuplot"
[[ -z $(find "$runs/plots" -name '*.svg') ]] || fail "SVGs without gnuplot?"

# A --data folder given and unreadable is an error, found before the report is written.
rm -rf "$runs/plots" "$runs/report.md"
expect_error "/nonexistent" report --data /nonexistent "$runs"
[[ ! -e $runs/report.md ]] || fail "report.md written despite the bad --data"

# A run stopped part way (Ctrl-C under --variant all: no model.safetensors) is left out, on
# stderr, and the report covers the others.
part="$tmp/partial"
cp -r "$runs" "$part"
rm "$part/variant-03/model.safetensors"
PATH=/nonexistent "$dd" report "$part" >"$tmp/out" 2>"$tmp/err" || fail "report of 20 runs exited $?"
grep -q 'skipping .*variant-03: the run did not finish' "$tmp/err" ||
    { fail "the stopped run was not named on stderr:"; cat "$tmp/err"; }
grep -q '20 runs' "$tmp/out" || { fail "not 20 runs:"; cat "$tmp/out"; }
! grep -q 'variant-03' "$part/report.md" || fail "report.md names the stopped run"

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
if ((failures == 0)) && [[ -z $have_gnuplot ]]; then
    echo "skipped: gnuplot is not installed, so its plots were not checked (the rest passed)"
    exit 77
fi
finish report

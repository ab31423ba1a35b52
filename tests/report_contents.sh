#!/usr/bin/env bash
# What `deepdigits report` says, checked against the run files it read (report_check.py computes
# every number from config.json, history.csv, the MNIST test set and `deepdigits predict`): the
# results table, the best run, its confusion matrix and misclassified digits, the Keras code, the
# plot data and the names in the plots. The 21 one-epoch runs of variants_all.sh are copied and
# varied so that each number can only come from the right place: the best run is renamed (it is
# not first in the table) and its val_acc peaked the epoch before its last; a run of four epochs
# has the highest val_acc of any epoch but not the highest final one; a run is named like the
# summary's confusion data file, one with HTML's and markdown's special characters, and one
# has hidden layers of two widths. Then a run with a short history, a lone run folder, and the
# command line's errors.
# Usage: report_contents.sh DEEPDIGITS RUNS
source "$(dirname "$0")/cli_lib.sh" "$@"
runs=$2
check=$(dirname "$0")/report_check.py
have_gnuplot=$(command -v gnuplot)
command -v python3 >/dev/null ||
    { echo "skipped: python3 is not installed (report_check.py computes the expected numbers)"; exit 77; }

# A copy of the runs' own files: report.sh writes its reports into $runs meanwhile.
work=$tmp/runs
for d in "$runs"/*/; do
    [[ -f $d/config.json ]] || continue
    mkdir -p "$work/$(basename "$d")"
    cp "$d"/{config.json,history.csv,model.safetensors} "$work/$(basename "$d")/"
done
# copy_run FROM TO NAME: run FROM again as TO, named NAME (a JSON string's contents).
copy_run() {
    cp -r "$work/$1" "$work/$2"
    sed -i "s/\"name\": \"$1\"/\"name\": \"$3\"/" "$work/$2/config.json"
}
# Names are labels: the best run (baseline's) is renamed so that it is not the first in the table,
# and another takes the name baseline, which comes first.
sed -i 's/"name": "baseline"/"name": "top"/' "$work/baseline/config.json"
sed -i 's/"name": "variant-20"/"name": "baseline"/' "$work/variant-20/config.json"
copy_run variant-01 peaked peaked
copy_run variant-12 confusion confusion
copy_run variant-02 odd 'a<b>\&amp;c\\\\'
# peaked: four epochs of variant-01's row, its other numbers halved each epoch (first and last
# differ); val_acc rises to 0.99 for two epochs (the first is the best), then falls to just below
# the best final val_acc.
highest=$(awk -F, 'FNR == 2 && $5 > top { top = $5 } END { print top }' "$runs"/*/history.csv)
sed -i 's/"epochs": 1,/"epochs": 4,/' "$work/peaked/config.json"
awk -F, -v OFS=, -v top="$highest" 'NR == 1 { print; next }
    { split($0, o, ",")
      for (e = 1; e <= 4; e++) {
          for (i = 2; i <= NF; i++) $i = o[i] / 2 ^ (e - 1)
          $1 = e; $5 = e == 1 ? top / 2 : e <= 3 ? 0.99 : top - 0.01
          print
      } }' "$work/peaked/history.csv" >"$tmp/h" && mv "$tmp/h" "$work/peaked/history.csv"
# top, the best run, had a better val_acc the epoch before its last; and odd's second hidden
# layer is narrower than its first.
sed -i 's/"epochs": 1,/"epochs": 2,/' "$work/baseline/config.json"
awk -F, -v OFS=, -v top="$highest" 'NR == 1 { print; next }
    { row = $0; $1 = 1; $5 = top + 0.005; print; $0 = row; $1 = 2; print }' \
    "$work/baseline/history.csv" >"$tmp/h" && mv "$tmp/h" "$work/baseline/history.csv"
sed -i '/"hidden":/s/25]/20]/' "$work/odd/config.json"
# variant-19, the last in the table, trained with --no-diagnostics (its history cut to the first
# 8 columns): the others' diagnostics are reported all the same.
cut -d, -f1-8 "$work/variant-19/history.csv" >"$tmp/h" && mv "$tmp/h" "$work/variant-19/history.csv"
# An earlier report's plot files, of a run since removed: gone after this report.
mkdir -p "$work/plots/data/layers" "$work/plots/scripts"
touch "$work/plots/data/gone.dat" "$work/plots/data/layers/gone.dat" "$work/plots/scripts/gone.gp"

"$dd" report "$work" >"$tmp/out" 2>"$tmp/err" || { fail "report exited $?:"; cat "$tmp/err"; }
while IFS= read -r line; do
    fail "$line"
done < <(python3 "$check" "$dd" "$work" "$tmp/out" ${have_gnuplot:+plots} 2>&1)
grep -q '^## Saturation and vanishing gradients' "$work/report.md" ||
    fail "report.md lacks the diagnostics section when its last run has none"
# variant-01, -03 and -05 trained the same model the same way: one line says why their numbers
# are the same.
grep -q 'Runs with the same description are the same model' "$work/report.md" ||
    fail "report.md does not explain its runs of the same model"
if [[ -n $have_gnuplot ]]; then
    ! grep -q 'No plots' "$work/report.md" || fail "report.md says there are no plots"
    [[ -z $(find "$work/plots" -name 'gone.*') ]] ||
        fail "an earlier report's plot files are left: $(find "$work/plots" -name 'gone.*')"
fi

# A run whose history has fewer epochs than its config.json (stopped part way, beside a model of
# before) is left out, and stderr says why.
short=$tmp/short
mkdir "$short" && cp -r "$work/peaked" "$work/baseline" "$short/"
sed -i '$d' "$short/peaked/history.csv"
PATH=/nonexistent "$dd" report "$short" >"$tmp/out" 2>"$tmp/err" || fail "short history: exit $?"
grep -q 'skipping .*peaked: the run did not finish (3 of 4 epochs in its history)' "$tmp/err" ||
    { fail "the run with a short history was not named:"; cat "$tmp/err"; }
grep -q '^deepdigits report: 1 run;' "$tmp/out" ||
    { fail "short history: not 1 run:"; cat "$tmp/out"; }

# One run folder, reported alone: one run, and nothing about a run folder that holds others.
PATH=/nonexistent "$dd" report "$work/baseline" >"$tmp/out" 2>"$tmp/err" ||
    { fail "report of one run folder exited $?:"; cat "$tmp/err"; }
grep -q '^deepdigits report: 1 run; best top' "$tmp/out" ||
    { fail "one run folder:"; cat "$tmp/out"; }
! grep -q 'itself a run folder' "$tmp/out" "$work/baseline/report.md" ||
    fail "a lone run folder is said to hold others"
! grep -q 'the same model' "$work/baseline/report.md" || fail "a lone run has a twin"
grep -q 'No plots: gnuplot was not found' "$work/baseline/report.md" ||
    fail "report.md without gnuplot does not say why it has no plots"

# The command line: one folder, known options; --help is not an error.
mkdir "$tmp/empty"
expect_error "no finished run folders" report "$tmp/empty"
[[ $last_rc -eq 1 ]] || fail "report of a folder without runs exited $last_rc, not 1"
expect_usage_error "give one folder" report
expect_usage_error "give one folder" report "$work" "$work/baseline"
expect_usage_error "--frobnicate" report --frobnicate "$work"
"$dd" report --help >"$tmp/out" 2>"$tmp/err" || fail "report --help exited $?"
grep -q '^usage: deepdigits report \[--data DIR\] RUNS' "$tmp/out" && [[ ! -s $tmp/err ]] ||
    fail "report --help does not print its usage on stdout"

if ((failures == 0)) && [[ -z $have_gnuplot ]]; then
    echo "skipped: gnuplot is not installed, so the plot data was not checked (the rest passed)"
    exit 77
fi
finish report_contents

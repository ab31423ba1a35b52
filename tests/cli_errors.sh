#!/usr/bin/env bash
# The CLI's contract for bad input: one line on stderr that names the problem, a non-zero exit,
# never a crash. Usage: cli_errors.sh DEEPDIGITS MNIST_DIR
source "$(dirname "$0")/cli_lib.sh" "$@"

train=(train --data "$mnist" --device cpu --subset 100 --epochs 1 --verbose 0)
expect_error "--epochs" "${train[@]}" --epochs -1
expect_error "--epochs" "${train[@]}" --epochs 0
expect_error "--batch" "${train[@]}" --batch 0
expect_error "--lr" "${train[@]}" --lr nan
expect_error "--lr" "${train[@]}" --lr -0.5
expect_error "--lr 0: must be greater than 0" "${train[@]}" --lr 0
expect_error "--lr 1e-46: too small for a 32-bit float" "${train[@]}" --lr 1e-46 # 0 as a float
# Beyond a double's range strtod sets ERANGE, which read as "not a finite number"; and it read
# hexadecimal, which --epochs refuses ("0x10" was a learning rate of 16).
expect_error "--lr 1e400: must be greater than 0 and at most 1000" "${train[@]}" --lr 1e400
expect_error "--lr 1e-400: too small for a 32-bit float" "${train[@]}" --lr 1e-400
expect_error "--lr -1e-400: must be greater than 0" "${train[@]}" --lr -1e-400
expect_error "--lr '0x10': not a decimal number" "${train[@]}" --lr 0x10
expect_error "--lr 'inf': not a finite number" "${train[@]}" --lr inf
expect_error "--data '': not a folder name" "${train[@]}" --data ''
expect_error "--activation 'softmax'" "${train[@]}" --activation softmax
expect_error "unknown initializer 'orthogonal'" "${train[@]}" --init orthogonal
expect_error "random_uniform:MIN,MAX" "${train[@]}" --init random_uniform:0.1,-0.1
expect_error "--bn 'sideways'" "${train[@]}" --bn sideways
expect_error "only random_uniform takes a range" "${train[@]}" --init glorot_uniform:0,1
expect_error "within float range" "${train[@]}" --init random_uniform:-1e39,1e39
expect_error "random_uniform:MIN,MAX" "${train[@]}" --init "random_uniform: -1,1"
expect_error "with --subset 1 cannot learn" train --data "$mnist" --device cpu --subset 1 --variant 5
expect_error "--hidden" "${train[@]}" --hidden 25,x
expect_error "--hidden" "${train[@]}" --hidden 25,0
expect_error "--device 'tpu'" "${train[@]}" --device tpu
expect_error "--engine 'turbo'" "${train[@]}" --engine turbo
# Each GPU-only flag with --device cpu is a usage error that names the flag.
expect_usage_error "--engine fused runs on the GPU" "${train[@]}" --engine fused
expect_usage_error "--engine layers runs on the GPU" "${train[@]}" --engine layers
expect_usage_error "--tf32 runs on the GPU" "${train[@]}" --tf32
expect_usage_error "--no-graphs runs on the GPU" "${train[@]}" --no-graphs
expect_error "--fused-sms 3: must be 1, 2 or 4" "${train[@]}" --engine fused --fused-sms 3
expect_error "--fused-sms 'two': not a whole number" "${train[@]}" --engine fused --fused-sms two
expect_error "--fused-sms sets the fused engine's SMs a model: it needs --engine fused" "${train[@]}" --fused-sms 2
expect_error "--fused-pipe pipelines the fused engine's batch-1 step: it needs --engine fused" "${train[@]}" --fused-pipe
expect_error "--width sets a preset's widths" "${train[@]}" --width 30 --hidden 25
expect_error "--history '': not a file name" "${train[@]}" --history ""
expect_error "--standardize" "${train[@]}" --standardize minmax
expect_error "--subset 70000" train --data "$mnist" --subset 70000 --epochs 1 --verbose 0
expect_error "--verbose" "${train[@]}" --verbose 3
expect_error "--seed" "${train[@]}" --seed -4
expect_error "--dataset 'cifar'" train --dataset cifar
expect_usage_error "either --data or --dataset" train --data "$mnist" --dataset fashion
# eval takes one test set too, and no stray argument besides its flags.
expect_usage_error "give either --data or --dataset, not both" eval --model "$tmp/m.safetensors" \
    --data "$mnist" --dataset fashion
expect_usage_error "deepdigits eval: unexpected argument 'stray'" eval --model "$tmp/m.safetensors" stray
# --variant all without --out would train only the baseline, with no folder to put the 21 in.
expect_usage_error "--variant all needs --out DIR" "${train[@]}" --variant all
expect_error "/nonexistent" train --data /nonexistent --epochs 1
expect_error "/nonexistent/h.csv" "${train[@]}" --history /nonexistent/h.csv
expect_error "/nonexistent/h.csv" train --data "$mnist" --device cpu --subset 100 --history /nonexistent/h.csv
expect_error "--hidden '25,,25'" "${train[@]}" --hidden 25,,25
expect_error "--hidden '25,'" "${train[@]}" --hidden 25,
# At most 16 hidden layers; an item longer than any width is refused before it is copied.
expect_error "--hidden '1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1': at most 16 items" "${train[@]}" \
    --hidden 1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1
expect_error "--hidden '9999999999999999999999999999999999999999': give whole numbers" "${train[@]}" \
    --hidden 9999999999999999999999999999999999999999
# 32 characters, the item buffer's size, are already too long (31 would fit with its '\0').
expect_error "--hidden '12345678901234567890123456789012': give whole numbers" "${train[@]}" \
    --hidden 12345678901234567890123456789012
# Each range's upper bound is itself accepted (the flags are read, then --help ends the command).
"$dd" train --variant 20 --width 4096 --jobs 64 --epochs 100000 --batch 65536 --lr 1000 \
    --seed 9223372036854775807 --subset 1073741824 --verbose 2 --save-every 100000 --help \
    >/dev/null 2>"$tmp/err" || fail "the flags' upper bounds were refused: $(cat "$tmp/err")"
# ... and each lower bound (--lr's is exclusive: the smallest normal float stands for it).
"$dd" train --variant 0 --width 1 --jobs 1 --epochs 1 --batch 1 --lr 1.2e-38 --seed 0 --subset 1 \
    --verbose 0 --save-every 1 --help >/dev/null 2>"$tmp/err" ||
    fail "the flags' lower bounds were refused: $(cat "$tmp/err")"
expect_error "--subset 0: must be between 1 and" "${train[@]}" --subset 0
expect_error "--verbose -1: must be between 0 and 2" "${train[@]}" --verbose -1
expect_error "--epochs 99999999999999999999: must be between" "${train[@]}" --epochs 99999999999999999999
# A whole number is all digits: an empty value, a leading space or a trailing letter is refused
# (strtol alone would read '' as 0, ' 3' and '3x' as 3); so is a decimal (strtod's '' and '0.5abc').
# A number beyond a long is out of range, not clipped to LONG_MAX, which is --seed's own bound.
expect_error "--epochs '': not a whole number" "${train[@]}" --epochs ''
expect_error "--epochs ' 3': not a whole number" "${train[@]}" --epochs ' 3'
expect_error "--epochs '3x': not a whole number" "${train[@]}" --epochs 3x
expect_error "--seed 9223372036854775808: must be between 0 and 9223372036854775807" "${train[@]}" \
    --seed 9223372036854775808
expect_error "--lr '': not a decimal number" "${train[@]}" --lr ''
expect_error "--lr ' 0.5': not a decimal number" "${train[@]}" --lr ' 0.5'
expect_error "--lr '0.5abc': not a decimal number" "${train[@]}" --lr 0.5abc
expect_error "--save $tmp: a folder" "${train[@]}" --save "$tmp"
expect_error "--save /proc/x.safetensors: cannot write there" "${train[@]}" --save /proc/x.safetensors
expect_error "unknown option" "${train[@]}" --learning-rate 3
expect_error "--e is ambiguous: --epochs, --engine" "${train[@]}" --e 3
expect_error "--tf32 takes no value" "${train[@]}" --tf32=1
expect_error "--lr needs a value" "${train[@]}" --lr
# --save is a whole option name even though --save-every begins with it: not ambiguous.
expect_error "--save needs a value" "${train[@]}" --save
"$dd" train -h | grep -q '^usage: deepdigits train' || fail "train -h shows no help"
expect_error "unexpected argument" "${train[@]}" extra
# A stray word before a flag is not taken for its value (train reads the flags in several passes).
expect_error "unexpected argument 'oops'" "${train[@]}" oops --save
expect_error "--=x" "${train[@]}" --=x
expect_error "unknown option -x" "${train[@]}" -xh
expect_error "unknown command 'trian'" trian
# `help CMD` is `CMD --help`, as with git; --version names the build's CUDA and architectures.
"$dd" help eval | grep -q '^usage: deepdigits eval' || fail "help eval shows no eval help"
expect_error "deepdigits help: give one command" help trian
"$dd" --version | grep -qE '^deepdigits [0-9]+\.[0-9]+ \(CUDA [0-9.]+; GPU code for [0-9]' ||
    fail "--version: $("$dd" --version 2>&1)"
expect_error "--jobs" "${train[@]}" --jobs 2
expect_error "--jobs" "${train[@]}" --jobs 0
expect_error "--history does not combine with --out" train --data "$mnist" --variant all \
    --out "$tmp/runs" --history "$tmp/h.csv"
if ! nvidia-smi -L >/dev/null 2>&1; then # on a machine without a GPU
    expect_error "--device gpu: no CUDA device" "${train[@]}" --device gpu
    # --device auto says once that it trains on the CPU, not once per model.
    "$dd" train --data "$mnist" --variant all --out "$tmp/runs" --subset 50 --epochs 1 --verbose 0 \
        2>"$tmp/err" >/dev/null || fail "--variant all on 50 images failed: $(cat "$tmp/err")"
    [[ $(grep -c 'training on the CPU' "$tmp/err") -eq 1 ]] ||
        { fail "the CPU notice, not once:"; cat "$tmp/err"; }
fi

# The bench takes the same care with its flags.
bench=("$(dirname "$dd")/bench/deepdigits-bench" --data "$mnist")
expect_bench_error() {
    local word=$1
    shift
    "${bench[@]}" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    [[ $rc -eq 1 && $(wc -l <"$tmp/err") -eq 1 ]] && grep -qF -- "$word" "$tmp/err" ||
        fail "deepdigits-bench $* -> exit $rc: $(cat "$tmp/err")"
}
expect_bench_error "--batch 0" --batch 0
expect_bench_error "--models 21" --models 21
expect_bench_error "deepdigits-bench: --models '0,,1'" --models 0,,1
expect_bench_error "--repeats" --repeats x
expect_bench_error "unknown option" --bogus
expect_bench_error "--lab-jobs" --lab-jobs 0
expect_bench_error "--lab-epochs goes with --lab" --lab-epochs 2
expect_bench_error "--lab-jobs goes with --lab" --lab-jobs 2
expect_bench_error "--lab-jobs 64: must be between 1 and 21" --lab --lab-jobs 64
expect_bench_error "none of the --backends runs on --device cpu" --device cpu --backends cuda
# A batch larger than the training set (no full batch an epoch) divided by zero; a --json that
# is a folder was found only after the whole bench had run.
expect_bench_error "--batch 60001: the training set has 60000 images" --device cpu --batch 60001
expect_bench_error "--json '$tmp': not a file name" --device cpu --quick --json "$tmp"
expect_bench_error "--json '': not a file name" --device cpu --quick --json ''
expect_bench_error "unknown backend 'gpu'" --backends cpu,gpu
# An empty item in --backends was passed over, and an item given twice in --models or --batch was
# measured twice; each is a slip in the list, refused as --models '0,,1' is. (The flags before
# the list keep a bench that takes it to a few seconds.)
small=(--device cpu --quick --models 0 --batch 2)
expect_bench_error "--backends 'cpu,,cuda': an empty item" "${small[@]}" --backends cpu,,cuda
expect_bench_error "--backends ',cpu': an empty item" "${small[@]}" --backends ,cpu
expect_bench_error "--backends 'cpu,': an empty item" "${small[@]}" --backends cpu,
expect_bench_error "--backends '': an empty item" "${small[@]}" --backends ''
expect_bench_error "--backends 'cpu,cuda,cpu': cpu is given twice" "${small[@]}" --backends cpu,cuda,cpu
expect_bench_error "--batch '2,32,2': 2 is given twice" "${small[@]}" --batch 2,32,2
expect_bench_error "--models '0,20,0': 0 is given twice" "${small[@]}" --models 0,20,0
expect_bench_error "--gemms times the SGEMMs instead of training" --gemms --lab
expect_bench_error "--gemms multiplies random operands and reads no images" --gemms
expect_bench_error "--phases times a fused step's phases instead of the matrix: not with --lab" --phases --lab
expect_bench_error "--phases times a fused step's phases instead of the matrix: not with --gemms" --phases --gemms
# --gemms runs on a GPU and says it skipped without one; either way it exits 0, and it needs no
# MNIST folder (none where it runs).
(cd "$tmp" && "$(dirname "$dd")/bench/deepdigits-bench" --gemms --models 0 --batch 2) \
    >"$tmp/out" 2>"$tmp/err" &&
    grep -qE 'skipped: no CUDA device|Each SGEMM of a layers step' "$tmp/out" ||
    fail "deepdigits-bench --gemms: $(cat "$tmp/err" "$tmp/out")"

# The defaults are the lab's: its summary, and Keras's verbose=2 line per epoch.
if ! "$dd" train --data "$mnist" --subset 200 --epochs 2 >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL: a small training run failed:"; cat "$tmp/err"; failures=$((failures + 1))
fi
for want in 'Total params: 19,885' 'Trainable params: 19,885' 'Non-trainable params: 0' \
            'Epoch 2/2'; do
    grep -qF "$want" "$tmp/out" || { echo "FAIL: no '$want' in:"; cat "$tmp/out"; failures=$((failures + 1)); }
done
line='^200/200 - [0-9]+\.[0-9]s - loss: 0\.[0-9]{4} - acc: [01]\.[0-9]{4} - val_loss: 0\.[0-9]{4} - val_acc: [01]\.[0-9]{4}$'
[[ $(grep -cE "$line" "$tmp/out") -eq 2 ]] || { echo "FAIL: epoch lines not in Keras's form:"; cat "$tmp/out"; failures=$((failures + 1)); }

# --verbose 1 off a terminal (no bar) prints the summary and each epoch's last line, as Keras;
# --verbose 0 prints nothing (the --seed runs below check that).
"$dd" train --data "$mnist" --subset 100 --epochs 1 --verbose 1 --device cpu >"$tmp/v1" 2>&1
grep -qF 'Total params: 19,885' "$tmp/v1" && grep -qE '^100/100 - [0-9.]+s - loss: ' "$tmp/v1" ||
    fail "--verbose 1: $(cat "$tmp/v1")"

# The history CSV: a header and one row per epoch.
"$dd" train --data "$mnist" --subset 100 --epochs 3 --verbose 0 --history "$tmp/h.csv" || failures=$((failures + 1))
header=$(head -1 "$tmp/h.csv" 2>/dev/null)
[[ $header == epoch,loss,acc,val_loss,val_acc,train_seconds,* && $header == *steps* ]] \
    || { echo "FAIL: history header '$header'"; failures=$((failures + 1)); }
[[ $(wc -l <"$tmp/h.csv") -eq 4 ]] || { echo "FAIL: history rows"; failures=$((failures + 1)); }

# --seed 7 is the default seed, so it trains the same numbers as no --seed; --seed 8 others.
# Each run is --verbose 0: nothing on stdout or stderr.
for seed in "" "--seed 7" "--seed 8"; do
    "$dd" train --data "$mnist" --subset 100 --epochs 2 --verbose 0 --device cpu $seed \
        --history "$tmp/seed$seed.csv" >"$tmp/v0" 2>&1 || fail "train $seed failed"
    [[ ! -s $tmp/v0 ]] || fail "--verbose 0 $seed printed: $(cat "$tmp/v0")"
    cut -d, -f1-5 "$tmp/seed$seed.csv" >"$tmp/seed$seed.numbers"
done
cmp -s "$tmp/seed.numbers" "$tmp/seed--seed 7.numbers" || fail "--seed 7 is not the default"
cmp -s "$tmp/seed.numbers" "$tmp/seed--seed 8.numbers" && fail "--seed 8 trained the default's numbers"

finish cli_errors

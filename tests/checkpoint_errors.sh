#!/usr/bin/env bash
# Checkpoints from the command line: eval and predict on a saved model, a resume saving back to
# its file, one line and a non-zero exit for every malformed safetensors file and conflicting
# --resume flag, SIGINT/SIGTERM saving and
# exiting 130/143, and a diverging run that leaves the good checkpoint alone.
# Usage: checkpoint_errors.sh DEEPDIGITS MNIST_DIR
source "$(dirname "$0")/cli_lib.sh" "$@"

good=$tmp/good.safetensors
train=(train --data "$mnist" --subset 2000 --lr 0.1 --verbose 0 --device cpu)
"$dd" "${train[@]}" --epochs 2 --save "$good" 2>/dev/null || fail "training with --save"

# --resume without --save goes on in the file it came from.
cp "$good" "$tmp/resumed.safetensors"
"$dd" "${train[@]}" --resume "$tmp/resumed.safetensors" --epochs 3 2>"$tmp/err" ||
    fail "resume: $(cat "$tmp/err")"
"$dd" eval --model "$tmp/resumed.safetensors" --data "$mnist" 2>&1 | grep -q ', 3 epochs$' ||
    fail "a resume to 3 epochs did not save back to its file"

# eval: the two numbers and a 10x10 matrix whose entries add up to the 10,000 test images.
"$dd" eval --model "$good" --data "$mnist" >"$tmp/eval" 2>"$tmp/err" || fail "eval: $(cat "$tmp/err")"
grep -qE '^val_loss: 0\.[0-9]{4} - val_acc: 0\.[0-9]{4}' "$tmp/eval" || fail "eval output: $(cat "$tmp/eval")"
total=$(tail -10 "$tmp/eval" | awk '{for (i = 2; i <= NF; i++) s += $i} END {print s}')
[[ $total -eq 10000 ]] || fail "confusion matrix sums to $total"
# On Fashion-MNIST (installed by .ci/run) the classes are not digits: a legend names them.
if [[ -d /usr/share/datasets/fashion-mnist ]]; then
    fashion=(--dataset fashion --subset 500 --epochs 1 --verbose 0 --device cpu)
    "$dd" train "${fashion[@]}" --save "$tmp/fashion.safetensors" 2>"$tmp/err" ||
        fail "training on Fashion-MNIST: $(cat "$tmp/err")"
    "$dd" eval --model "$tmp/fashion.safetensors" --dataset fashion >"$tmp/eval" 2>"$tmp/err" ||
        fail "eval on Fashion-MNIST: $(cat "$tmp/err")"
    grep -qF "rows: true class," "$tmp/eval" && grep -qxF "classes: 0 T-shirt/top, 1 Trouser, \
2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot" "$tmp/eval" ||
        fail "eval on Fashion-MNIST names no classes: $(cat "$tmp/eval")"
    # The checkpoint records its dataset: eval without --data or --dataset takes Fashion-MNIST,
    # and predict names the class after the 10 outputs (the first test image, an ankle boot).
    "$dd" eval --model "$tmp/fashion.safetensors" >"$tmp/eval" 2>"$tmp/err" &&
        grep -qF "classes: 0 T-shirt/top," "$tmp/eval" ||
        fail "eval of a Fashion-MNIST model without --dataset: $(cat "$tmp/err")"
    gzip -dc /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz | tail -c +17 |
        head -c 784 | { printf 'P5\n28 28\n255\n'; cat; } >"$tmp/boot.pgm"
    names=("T-shirt/top" Trouser Pullover Dress Coat Sandal Shirt Sneaker Bag "Ankle boot")
    line_re='boot\.pgm: ([0-9]) ( [01]\.[0-9]{4}){10}  (.*)$'
    check_fashion_predict() { # MODEL WHAT: one line, the name that of the class predicted
        "$dd" predict --model "$1" "$tmp/boot.pgm" >"$tmp/pred" 2>"$tmp/err" ||
            fail "predict on $2: $(cat "$tmp/err")"
        [[ $(wc -l <"$tmp/pred") -eq 1 && $(cat "$tmp/pred") =~ $line_re &&
            ${BASH_REMATCH[3]} == "${names[BASH_REMATCH[1]]}" ]] ||
            fail "predict on $2 names no class: $(cat "$tmp/pred")"
    }
    check_fashion_predict "$tmp/fashion.safetensors" "a Fashion-MNIST model"
    # A resume from Fashion-MNIST's folder given as --data keeps the name (the images are
    # checked to be the same).
    "$dd" train --data /usr/share/datasets/fashion-mnist --device cpu --verbose 0 \
        --resume "$tmp/fashion.safetensors" --epochs 2 2>"$tmp/err" ||
        fail "resuming on Fashion-MNIST with --data: $(cat "$tmp/err")"
    check_fashion_predict "$tmp/fashion.safetensors" "a resumed Fashion-MNIST model"
else
    echo "note: no /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist); the" \
        "Fashion-MNIST class names were not checked"
fi

# eval scores the test set beside the training images the model was trained on, not another
# dataset's (a Fashion-MNIST model on MNIST's digits): other training images, or fewer than the
# model's --subset, are refused.
other_training_images "$mnist" "$tmp/other"
expect_error "the training images differ from the checkpoint's" eval --model "$good" --data "$tmp/other"
few_training_images "$mnist" "$tmp/few" 100
expect_error "the model was trained on 2000 images, and this training set has 100" \
    eval --model "$good" --data "$tmp/few"
expect_error "the training images differ from the checkpoint's" \
    "${train[@]/$mnist/$tmp/other}" --resume "$good" --epochs 3
# A model trained on a whole training set (here $tmp/few's 100 images) takes --subset of that
# size on resume, the same run, and refuses any other (checked first: the resume saves back).
few=(train --data "$tmp/few" --verbose 0 --device cpu)
"$dd" "${few[@]}" --epochs 1 --save "$tmp/whole.safetensors" 2>"$tmp/err" || fail "training on 100: $(cat "$tmp/err")"
expect_error "--subset 50 conflicts with the checkpoint, trained on the whole training set (100 images)" \
    "${few[@]}" --resume "$tmp/whole.safetensors" --epochs 3 --subset 50
"$dd" "${few[@]}" --resume "$tmp/whole.safetensors" --epochs 2 --subset 100 2>"$tmp/err" ||
    fail "--subset 100 on a model of the whole 100: $(cat "$tmp/err")"
expect_error "--subset 50 conflicts with --resume" "${train[@]}" --resume "$good" --epochs 3 --subset 50

# predict: the first test image (a 7) as binary and ASCII PGM.
images=$mnist/t10k-images-idx3-ubyte
if [[ -f $images ]]; then cat "$images"; else gzip -dc "$images.gz"; fi | tail -c +17 | head -c 784 >"$tmp/raw"
{ printf 'P5\n# first test image\n28 28\n255\n'; cat "$tmp/raw"; } >"$tmp/seven.pgm"
{ printf 'P2\n28 28\n255\n'; od -An -tu1 -v "$tmp/raw"; } >"$tmp/seven-ascii.pgm"
"$dd" predict --model "$good" "$tmp/seven.pgm" "$tmp/seven-ascii.pgm" >"$tmp/pred" 2>"$tmp/err" \
    || fail "predict: $(cat "$tmp/err")"
[[ $(grep -cE '\.pgm: 7 ( [01]\.[0-9]{4}){10}$' "$tmp/pred") -eq 2 ]] || fail "predict output: $(cat "$tmp/pred")"
# The checkpoint records the dataset: "custom" for --data DIR, "mnist" for --dataset mnist (here
# data/mnist is a link to $mnist). Digits need no names: predict prints as it always did.
grep -aqF 'subset\":2000,\"dataset\":\"custom\"' "$good" || fail "--data DIR not recorded as custom"
mkdir -p "$tmp/cwd/data" && ln -s "$mnist" "$tmp/cwd/data/mnist"
(cd "$tmp/cwd" && exec "$dd" train --dataset mnist --subset 500 --epochs 1 --verbose 0 \
    --device cpu --save "$tmp/mnist.safetensors") 2>"$tmp/err" || fail "--dataset mnist: $(cat "$tmp/err")"
grep -aqF 'dataset\":\"mnist\"' "$tmp/mnist.safetensors" || fail "--dataset mnist not recorded"
"$dd" predict --model "$tmp/mnist.safetensors" "$tmp/seven.pgm" >"$tmp/pred" 2>"$tmp/err" &&
    grep -qE '^[^ ]*seven\.pgm: [0-9] ( [01]\.[0-9]{4}){10}$' "$tmp/pred" ||
    fail "predict on a --dataset mnist model: $(cat "$tmp/pred" "$tmp/err")"
# A checkpoint written before the dataset was recorded (the key renamed here: one the reader
# does not know) loads, and predicts as the same model with it.
LC_ALL=C sed -e 's/dataset\\"/datasex\\"/' "$good" >"$tmp/old.safetensors"
grep -aqF 'dataset\"' "$tmp/old.safetensors" && fail "the dataset key was not renamed"
"$dd" predict --model "$good" "$tmp/seven.pgm" >"$tmp/pred" 2>&1
"$dd" predict --model "$tmp/old.safetensors" "$tmp/seven.pgm" >"$tmp/pred-old" 2>&1 ||
    fail "predict on a checkpoint without a dataset: $(cat "$tmp/pred-old")"
cmp -s "$tmp/pred" "$tmp/pred-old" || fail "predict without a dataset: $(cat "$tmp/pred-old")"
{ printf 'P5\n28 27\n255\n'; cat "$tmp/raw"; } >"$tmp/small.pgm"
expect_error "image is 28x27, expected 28x28" predict --model "$good" "$tmp/small.pgm"
{ printf 'P5\n28 28\n65535\n'; cat "$tmp/raw" "$tmp/raw"; } >"$tmp/deep.pgm"
expect_error "maxval 65535" predict --model "$good" "$tmp/deep.pgm"
expect_error "not a PGM" predict --model "$good" "$good"
printf 'P2\n28 28\n255\n7 -1\n' >"$tmp/negative.pgm"
expect_error "pixel 1 is not a whole number from 0 to maxval" predict --model "$good" "$tmp/negative.pgm"
printf 'P2\n28 28\n255\n7 8 9\n' >"$tmp/short.pgm"
expect_error "PGM data ends after 3 of 784 pixels" predict --model "$good" "$tmp/short.pgm"
expect_error "--model" predict "$tmp/seven.pgm"
# A checkpoint given without --model, as other tools take it: the line says where it goes.
expect_error "the checkpoint goes after --model: --model $good" eval "$good" --data "$mnist"
expect_error "the checkpoint goes after --model: --model $good" predict "$good" "$tmp/seven.pgm"
expect_error "predict: unknown option --data" predict --model "$good" --data "$mnist" "$tmp/seven.pgm"
# predict knows only its own flags: --da was "ambiguous: --data, --dataset", two it refuses.
expect_error "predict: unknown option --da (see --help)" predict --model "$good" --da x "$tmp/seven.pgm"
# Empty names read as "deepdigits: : cannot read the checkpoint" (or ": cannot open").
expect_error "eval: --model '': not a file name" eval --model '' --data "$mnist"
expect_error "predict: --model '': not a file name" predict --model= "$tmp/seven.pgm"
expect_error "--data '': not a folder name" eval --model "$good" --data ''
expect_error "deepdigits: '': not a file name" predict --model "$good" ''
# A header ending "255\r\n" left the '\n' as the first pixel: the image shifted, its digit
# predicted from garbage. A raster of any other length than 784 bytes is refused.
{ printf 'P5\r\n28 28\r\n255\r\n'; cat "$tmp/raw"; } >"$tmp/crlf.pgm"
expect_error "crlf.pgm: PGM data is 785 bytes, expected 784" predict --model "$good" "$tmp/crlf.pgm"

# Malformed checkpoints: each edit keeps the header's length, so only the named rule breaks.
edit() { LC_ALL=C sed -e "0,/$2/s//$3/" "$good" >"$tmp/$1.safetensors"; }
head -c -1 "$good" >"$tmp/truncated.safetensors"
{ printf '\xff\xff\xff\x00\x00\x00\x00\x00'; tail -c +9 "$good"; } >"$tmp/long.safetensors"
{ head -c 9 "$good"; printf 'x'; tail -c +11 "$good"; } >"$tmp/json.safetensors"
edit overlap '\[78400,78500\]' '[78300,78400]'
edit dtype '"F32"' '"I32"'
edit shape '\[784,25\]' '[25,784]'
# The pixel statistics: a std of about 1e-300 (positive, but every standardized pixel an
# infinite float) and a negative mean; the edits keep the text's length.
edit tinystd 'std\\":[0-9][0-9]\.\([0-9]*\)[0-9]\{4\},' 'std\\":1.\1e-300,'
edit negmean 'mean\\":[0-9][0-9]\.' 'mean\\":-1.'
# History that no run records: an accuracy above 1, a negative time, a fraction of saturated
# units above 1 (read, then shown by eval and the report as they were).
edit bigacc 'val_acc\\":0\.' 'val_acc\\":9.'
edit negtime 'eval_seconds\\":0\.\([0-9]\)' 'eval_seconds\\":-\1.'
edit bigsat 'saturated\\":\[0\.' 'saturated\\":[2.'
# An epoch's partial sums (all zero here) counting a correct answer among no samples.
edit partial 'correct\\":0,' 'correct\\":1,'
# A dataset no run records (one with a newline, which the line shows as '?'), and one that is
# not a string.
edit dsname 'dataset\\":\\"custom' 'dataset\\":\\"kmnist'
edit dsctrl 'dataset\\":\\"custom' 'dataset\\":\\"\\\\nmni'
edit dstype 'dataset\\":\\"custom\\"' 'dataset\\":1234567890'
: >"$tmp/empty.safetensors"
# A NaN (0x7fc00000) as the sixth weight of the first tensor, dense_1.kernel: the data begins
# after the 8-byte length and the header.
cp "$good" "$tmp/nan.safetensors"
printf '\x00\x00\xc0\x7f' | dd of="$tmp/nan.safetensors" bs=1 conv=notrunc status=none \
    seek=$((8 + $(od -An -t u8 -N8 "$good") + 4 * 5))
for case in "truncated:the tensors cover" "long:runs past the end of the file" \
            "json:invalid JSON" "overlap:overlap" "dtype:dtype I32, expected F32" \
            "shape:shape [25, 784], the model's config needs [784, 25]" "empty:too short" \
            "nan:tensor dense_1.kernel holds nan at element 5, not a finite number" \
            "tinystd:\"std\": not a standard deviation of pixels" \
            "negmean:\"mean\": not a mean of pixels (0 to 255)" \
            "bigacc:history entry 1: \"val_acc\" is 9." \
            "negtime:history entry 1: \"eval_seconds\" is -" \
            "bigsat:history entry 1: \"saturated\" is 2." \
            "partial:\"correct\" exceeds \"samples\"" \
            "dsname:metadata \"training\": \"dataset\" is 'kmnist', expected mnist, fashion or custom" \
            "dsctrl:\"dataset\" is '?mni', expected" \
            "dstype:metadata \"training\": \"dataset\" is not a string"; do
    expect_error "${case#*:}" eval --model "$tmp/${case%%:*}.safetensors" --data "$mnist"
done
expect_error "\"dataset\" is 'kmnist'" predict --model "$tmp/dsname.safetensors" "$tmp/seven.pgm"
expect_error "is a directory" eval --model "$tmp" --data "$mnist"
expect_error "No such file" eval --model "$tmp/missing.safetensors" --data "$mnist"

# Flags: --resume refuses what would change the run; --save is checked before training.
expect_error "--lr 0.5 conflicts with --resume" "${train[@]}" --resume "$good" --lr 0.5 --epochs 3
expect_error "--hidden 30 conflicts" "${train[@]}" --resume "$good" --hidden 30 --epochs 3
# Every other flag the checkpoint fixes, given another value, is named as the conflict (with the
# value given, or alone); restated with the checkpoint's own values, none is. $good has the lab's.
for flag in "--activation sigmoid" "--init glorot_uniform" "--init random_uniform:-0.2,0.1" \
    "--init random_uniform:-0.1,0.2" "--batch 2" "--seed 8" "--standardize none" \
    "--no-diagnostics"; do
    # shellcheck disable=SC2086 # the flag and its value are two words
    expect_error "$flag conflicts with --resume" "${train[@]}" --resume "$good" --epochs 3 $flag
done
cp "$good" "$tmp/restated.safetensors"
"$dd" train --data "$mnist" --verbose 0 --device cpu --resume "$tmp/restated.safetensors" \
    --epochs 3 --hidden 25 --activation tanh --init random_uniform:-0.1,0.1 --bn none --batch 1 \
    --lr 0.1 --seed 7 --standardize global 2>"$tmp/err" ||
    fail "a resume restating the checkpoint's flags: $(cat "$tmp/err")"
# (Without --subset, too: the checkpoint's subset of 2000 images goes on.)
"$dd" eval --model "$tmp/restated.safetensors" --data "$mnist" 2>&1 | grep -q ', 3 epochs$' ||
    fail "the restated resume did not train to 3 epochs"
# Without --epochs a resume trains to the checkpoint's own: this one says 3 of which 2 are done.
edit three 'epochs\\":2,' 'epochs\\":3,'
"$dd" train --data "$mnist" --verbose 0 --device cpu --resume "$tmp/three.safetensors" \
    2>"$tmp/err" || fail "a resume without --epochs: $(cat "$tmp/err")"
"$dd" eval --model "$tmp/three.safetensors" --data "$mnist" 2>&1 | grep -q ', 3 epochs$' ||
    fail "a resume without --epochs did not stop at the checkpoint's 3"
expect_error "--variant cannot be combined" "${train[@]}" --resume "$good" --variant 3
expect_error "give --epochs above 2" "${train[@]}" --resume "$good" --epochs 2
expect_error "give --epochs above 2" train --data "$mnist" --device cpu --resume "$good" --epochs 2
expect_error "--save-every needs --save" "${train[@]}" --save-every 2
expect_error "--save-every" "${train[@]}" --save-every 0 --save "$tmp/x.safetensors"
expect_error "--save /nonexistent/x.safetensors: cannot write there" "${train[@]}" --save /nonexistent/x.safetensors
expect_error "--resume '': not a file name" "${train[@]}" --resume '' --epochs 3
expect_error "--save '$tmp/new/': not a file name" "${train[@]}" --save "$tmp/new/"
mkfifo "$tmp/fifo"
expect_error "--save $tmp/fifo: not a regular file" "${train[@]}" --save "$tmp/fifo"
# A FIFO given to read was opened blocking: eval and predict waited for a writer forever, only to
# refuse it once one came. (timeout ends a run that would hang: exit 124.)
timeout 20 "$dd" eval --model "$tmp/fifo" --data "$mnist" >/dev/null 2>"$tmp/err"
rc=$?
[[ $rc -eq 1 ]] && grep -qF "fifo: cannot read the checkpoint: is not a regular file" "$tmp/err" ||
    fail "eval --model FIFO: exit $rc: $(cat "$tmp/err")"
timeout 20 "$dd" predict --model "$good" "$tmp/fifo" >/dev/null 2>"$tmp/err"
rc=$?
[[ $rc -eq 1 ]] && grep -qF "fifo: not a regular file" "$tmp/err" ||
    fail "predict on a FIFO: exit $rc: $(cat "$tmp/err")"
timeout 20 "$dd" "${train[@]}" --resume "$tmp/fifo" --epochs 3 >/dev/null 2>"$tmp/err"
rc=$?
[[ $rc -eq 1 ]] && grep -qF "fifo: cannot read the checkpoint: is not a regular file" "$tmp/err" ||
    fail "--resume FIFO: exit $rc: $(cat "$tmp/err")"
# --history opens its file at the start: never a checkpoint's (the resumed one would be lost).
before=$(cksum <"$good")
expect_error "--history $good is the --resume checkpoint" "${train[@]}" --resume "$good" --epochs 3 \
    --history "$good"
expect_error "is the --save checkpoint" "${train[@]}" --save "$tmp/x.safetensors" \
    --history "$tmp/./x.safetensors"
cp "$good" "$tmp/same.safetensors"
expect_error "is the --save checkpoint" "${train[@]}" --resume "$good" --epochs 3 \
    --save "$tmp/same.safetensors" --history "$tmp/./same.safetensors"
[[ $(cksum <"$good") == "$before" ]] || fail "a refused --history changed the checkpoint"
# Files of one name in two folders are two files.
mkdir "$tmp/d1" "$tmp/d2"
"$dd" "${train[@]}" --epochs 1 --save "$tmp/d1/x.safetensors" --history "$tmp/d2/x.safetensors" \
    2>"$tmp/err" || fail "--save and --history in two folders, one file name: $(cat "$tmp/err")"
# A BN model's own --bn restated on resume is no conflict (nor is its batch, which BN needs).
"$dd" "${train[@]}" --hidden 25 --bn before --batch 32 --epochs 1 --save "$tmp/bn.safetensors" \
    2>"$tmp/err" || fail "training BN: $(cat "$tmp/err")"
"$dd" "${train[@]}" --resume "$tmp/bn.safetensors" --epochs 2 --bn before 2>"$tmp/err" ||
    fail "resuming BN with its own --bn: $(cat "$tmp/err")"
expect_error "--bn after conflicts with --resume" "${train[@]}" --resume "$tmp/bn.safetensors" \
    --epochs 3 --bn after
# A BN model trained at batch 1 with --allow-bn-batch1 resumes without the flag: its BN and
# batch are the checkpoint's, accepted when it was trained.
"$dd" "${train[@]}" --hidden 25 --bn before --allow-bn-batch1 --epochs 1 \
    --save "$tmp/bn1.safetensors" 2>"$tmp/err" || fail "training BN at batch 1: $(cat "$tmp/err")"
"$dd" "${train[@]}" --resume "$tmp/bn1.safetensors" --epochs 2 2>"$tmp/err" ||
    fail "resuming BN trained at batch 1: $(cat "$tmp/err")"
# --save-every without --save saves to the --resume FILE (its --help and the README say so).
cp "$good" "$tmp/every.safetensors"
"$dd" "${train[@]}" --resume "$tmp/every.safetensors" --epochs 3 --save-every 1 2>"$tmp/err" ||
    fail "--resume with --save-every and no --save: $(cat "$tmp/err")"
"$dd" eval --model "$tmp/every.safetensors" --data "$mnist" 2>&1 | grep -q ', 3 epochs$' ||
    fail "--resume with --save-every: the resumed file does not hold 3 epochs"
"$dd" "${train[@]}" --resume "$good" --epochs 3 --history "$tmp/h.csv" 2>/dev/null \
    || fail "resume to 3 epochs"
[[ $(wc -l <"$tmp/h.csv") -eq 4 ]] || fail "a resumed history lists every epoch: $(cat "$tmp/h.csv")"

# Signals: finish the step, save, name the checkpoint, exit 128 + the signal. The signal is sent
# once the first epoch has begun (its "Epoch 1/20" line), when the handler is surely installed:
# a fixed sleep raced with loading the data on a busy machine. Each run writes a file of its own,
# emptied before it starts: polling a file the background run had not yet truncated once found
# the previous run's line and signalled a process that had not started (the message missing).
# BEFORE_KILL, when set, runs just before the signal.
interrupt() { # SIGNAL WANT_RC SAVE_ARGS...
    local sig=$1 want=$2
    shift 2
    local log="$tmp/interrupt-$sig.out"
    : >"$log"
    (cd "$tmp" && exec "$dd" train --data "$mnist" --epochs 20 --verbose 1 --device cpu "$@") \
        >"$log" 2>"$tmp/err" &
    local pid=$!
    for _ in $(seq 600); do
        grep -q '^Epoch 1/20' "$log" && break
        sleep 0.1
    done
    if [[ -n ${BEFORE_KILL:-} ]]; then eval "$BEFORE_KILL"; fi
    kill "-$sig" "$pid"
    wait "$pid"
    local rc=$?
    [[ $rc -eq $want ]] || fail "SIG$sig: exit $rc, wanted $want: $(cat "$tmp/err")"
}
interrupt INT 130 --save "$tmp/int.safetensors"
grep -qF "checkpoint saved to $tmp/int.safetensors" "$tmp/err" || fail "SIGINT message: $(cat "$tmp/err")"
"$dd" eval --model "$tmp/int.safetensors" --data "$mnist" >/dev/null 2>&1 || fail "the SIGINT checkpoint does not load"
interrupt TERM 143
grep -qF "deepdigits-interrupted.safetensors" "$tmp/err" || fail "SIGTERM message: $(cat "$tmp/err")"
[[ -s $tmp/deepdigits-interrupted.safetensors ]] || fail "no deepdigits-interrupted.safetensors"
# A save after the signal that fails (its folder gone) still exits as the signal, saying so.
mkdir "$tmp/gone"
BEFORE_KILL='rm -r "$tmp/gone"' interrupt TERM 143 --save "$tmp/gone/x.safetensors"
grep -q "^deepdigits: interrupted by SIGTERM; no checkpoint saved: .*gone/x.safetensors" "$tmp/err" ||
    fail "a failed save after SIGTERM: $(cat "$tmp/err")"
# Started with SIGINT ignored (a script's background job, as here: bash starts one so), the run
# leaves it ignored, as Python does; SIGTERM still stops it. It runs in $tmp: the SIGTERM saves
# deepdigits-interrupted.safetensors in the current folder, which was left in the test's. (A cd
# in a subshell would not do: bash ignores SIGINT only in a simple command started with &.)
: >"$tmp/ignored.out"
cd "$tmp" || fail "cd $tmp"
"$dd" train --data "$mnist" --epochs 20 --verbose 1 --device cpu >"$tmp/ignored.out" 2>"$tmp/err" &
pid=$!
cd - >/dev/null || fail "cd back"
for _ in $(seq 600); do
    grep -q '^Epoch 1/20' "$tmp/ignored.out" && break
    sleep 0.1
done
if (($(sed -n 's/^SigIgn:\s*//p' "/proc/$pid/status") & 2)); then # bash did start it so
    kill -INT "$pid"
    sleep 1
    kill -0 "$pid" 2>/dev/null || fail "SIGINT stopped a run that started with it ignored"
fi
kill -TERM "$pid"
wait "$pid"
rc=$?
[[ $rc -eq 143 ]] || fail "SIGTERM after an ignored SIGINT: exit $rc: $(cat "$tmp/err")"

# Divergence: one line with the epoch and step, exit 1, the good checkpoint untouched.
before=$(cksum <"$good")
expect_error "epoch 1, step 1 of 2000" "${train[@]}" --epochs 2 --init random_uniform:-1e38,1e38 \
    --save "$good" --save-every 1
[[ $(cksum <"$good") == "$before" ]] || fail "a diverging run overwrote the checkpoint"
ls "$tmp" | grep -q '\.tmp\.' && fail "temporary files left behind: $(ls "$tmp")"

finish checkpoint_errors

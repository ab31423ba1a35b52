# Shared by the command-line tests (sourced, not run): "$dd" is the deepdigits binary (absolute),
# "$mnist" the MNIST folder, "$tmp" a scratch folder removed at exit; fail records a failure and
# finish reports them and exits. Usage in a test: source "$(dirname "$0")/cli_lib.sh" "$@"
set -u
dd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
mnist=${2:+$(cd "$2" && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

fail() {
    echo "FAIL: $*"
    failures=$((failures + 1))
}

# expect_error WORD ARGS...: deepdigits ARGS must exit 1 or 2 with exactly one stderr line, and
# that line must contain WORD; nothing on stdout (the problem is found before any work starts).
expect_error() {
    local word=$1
    shift
    "$dd" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    last_rc=$rc
    lines=$(wc -l <"$tmp/err")
    if [[ $rc -ne 1 && $rc -ne 2 ]] || [[ $lines -ne 1 ]] || ! grep -qF -- "$word" "$tmp/err" ||
        [[ -s $tmp/out ]]; then
        fail "deepdigits $* -> exit $rc, $lines stderr line(s), wanted one naming '$word':"
        sed 's/^/    /' "$tmp/err"
        [[ -s $tmp/out ]] && { echo "  and on stdout:"; sed 's/^/    /' "$tmp/out"; }
    fi
}

# expect_usage_error WORD ARGS...: expect_error, and the exit status is 2, a usage error's (README).
expect_usage_error() {
    expect_error "$@"
    [[ $last_rc -eq 2 ]] || fail "deepdigits ${*:2} -> exit $last_rc, wanted 2 (a usage error)"
}

# require_gpu NAME: exits 77 (skipped) without a CUDA device, and ends the test NAME as failed
# when a one-epoch GPU run fails.
require_gpu() {
    "$dd" train --device gpu --epochs 1 --subset 64 --data "$mnist" --verbose 0 \
        --no-diagnostics >"$tmp/probe" 2>&1 && return 0
    grep -q "no CUDA device" "$tmp/probe" && { echo "skipped: no CUDA device"; exit 77; }
    fail "a one-epoch GPU run failed: $(tail -1 "$tmp/probe")"
    finish "$1"
}

# mnist_files SRC DEST FILE...: the IDX files FILE of the MNIST folder SRC (raw or .gz) into DEST,
# raw.
mnist_files() {
    local src=$1 dest=$2 f
    shift 2
    mkdir -p "$dest"
    for f; do
        if [[ -f $src/$f ]]; then cp "$src/$f" "$dest/$f"
        else gzip -dc "$src/$f.gz" >"$dest/$f"; fi
    done
}

# idx_first IMAGES LABELS N: the raw IDX pair cut to its first N images (the headers say N).
idx_first() {
    local n=$3 be
    be=$(printf '\\x%02x' $((n >> 24 & 255)) $((n >> 16 & 255)) $((n >> 8 & 255)) $((n & 255)))
    { printf "\x00\x00\x08\x03$be\x00\x00\x00\x1c\x00\x00\x00\x1c"
      tail -c +17 "$1" | head -c $((n * 784)); } >"$1.cut" && mv "$1.cut" "$1"
    { printf "\x00\x00\x08\x01$be"; tail -c +9 "$2" | head -c "$n"; } >"$2.cut" && mv "$2.cut" "$2"
}

# other_training_images SRC DEST: DEST holds SRC's MNIST test set, and as its training set the
# same test images (other images than SRC's training set: another pixel mean and std).
other_training_images() {
    mnist_files "$1" "$2" t10k-images-idx3-ubyte t10k-labels-idx1-ubyte
    cp "$2/t10k-images-idx3-ubyte" "$2/train-images-idx3-ubyte"
    cp "$2/t10k-labels-idx1-ubyte" "$2/train-labels-idx1-ubyte"
}

# few_training_images SRC DEST N: as other_training_images, its training set cut to the first N
# images.
few_training_images() {
    other_training_images "$1" "$2"
    idx_first "$2/train-images-idx3-ubyte" "$2/train-labels-idx1-ubyte" "$3"
}

# few_test_images SRC DEST N: SRC's MNIST with its test set cut to the first N images.
few_test_images() {
    mnist_files "$1" "$2" train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
        t10k-labels-idx1-ubyte
    idx_first "$2/t10k-images-idx3-ubyte" "$2/t10k-labels-idx1-ubyte" "$3"
}

# finish NAME: the summary line and the exit status.
finish() {
    echo "$1: $failures failure(s)"
    exit $((failures > 0))
}

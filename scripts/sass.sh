#!/usr/bin/env bash
# The fused kernels' machine code (SASS) for sm_90, on a machine without a GPU: what a change does
# to the instruction stream, counted before a GPU measures it (bench/NOTES.md uses it). Compiles
# kernels/fused.cu as the build does, with line information, disassembles it, and writes under
# OUTDIR (default build-sass/):
#   fused.sass    the listing, each instruction under the source line it comes from
#   ptxas.txt     ptxas's registers, stack and spills per kernel
#   loops.txt     each kernel's innermost loops (scripts/sass_loops.py)
# Usage: scripts/sass.sh [OUTDIR]
#
# nvdisasm: the CUDA toolkit's when it has one; otherwise (this project's CPU machines have
# nvcc without it) Debian's nvidia-cuda-toolkit 11.8 from the contrib/non-free archive, fetched
# into OUTDIR/nvdisasm with apt-get's lists kept there too (the system's sources untouched).
# nvdisasm 11.8 reads ELF ABI version 7, where e_flags holds the SM in its low byte; nvcc 13
# writes version 8, the SM in bits 8-15. The sm_90 instruction set is the same in both, so the
# older tool reads a copy whose header is rewritten in the old form (the listing it gives matches
# the source: loops where the source loops, FMAs at the dot products' lines).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-sass}
mkdir -p "$out"
fail() { echo "sass: $*" >&2; exit 1; }
nvcc=${CUDACXX:-/usr/local/cuda/bin/nvcc}
[ -x "$nvcc" ] || fail "no nvcc at $nvcc (set CUDACXX)"

find_nvdisasm() {
    local own
    own=$(dirname "$nvcc")/nvdisasm
    if [ -x "$own" ]; then echo "$own"; return; fi
    local d tool
    d=$(cd "$out" && pwd)/nvdisasm
    tool=$d/usr/bin/nvdisasm
    if [ ! -x "$tool" ]; then
        . /etc/os-release
        mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/parts"
        echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
            "http://deb.debian.org/debian $VERSION_CODENAME contrib non-free" >"$d/sources.list"
        local opts=(-o "Dir::Etc::SourceList=$d/sources.list" -o "Dir::Etc::SourceParts=$d/parts"
            -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache" -o "Debug::NoLocking=1")
        apt-get "${opts[@]}" -qq update >&2 || fail "apt-get update of Debian's contrib/non-free failed"
        (cd "$d" && apt-get "${opts[@]}" -qq download nvidia-cuda-toolkit >&2) ||
            fail "apt-get download nvidia-cuda-toolkit failed"
        dpkg -x "$d"/nvidia-cuda-toolkit_*.deb "$d"
    fi
    echo "$tool"
}

# The ELF header of IN rewritten for an nvdisasm that reads only ABI version 7, into OUT.
old_abi_copy() {
    python3 - "$1" "$2" <<'EOF'
import struct, sys
elf = bytearray(open(sys.argv[1], "rb").read())
flags = struct.unpack_from("<I", elf, 0x30)[0]
if elf[8] == 8:  # EI_ABIVERSION 8: the SM in bits 8-15
    sm = (flags >> 8) & 0xFF
    elf[8] = 7
    struct.pack_into("<I", elf, 0x30, sm | (sm << 16) | 0x500)  # SM, virtual SM, 64-bit, unified
open(sys.argv[2], "wb").write(elf)
EOF
}

nvdisasm=$(find_nvdisasm)
"$nvcc" -O3 -DNDEBUG -std=c++17 -lineinfo -cubin -arch=sm_90 -Xptxas -v -Iinclude -Ikernels \
    -Isrc -o "$out/fused.cubin" kernels/fused.cu 2>"$out/ptxas.txt" ||
    { cat "$out/ptxas.txt" >&2; fail "nvcc failed"; }
if ! "$nvdisasm" -gi "$out/fused.cubin" >"$out/fused.sass" 2>/dev/null; then
    old_abi_copy "$out/fused.cubin" "$out/fused-abi7.cubin"
    "$nvdisasm" -gi "$out/fused-abi7.cubin" >"$out/fused.sass" || fail "nvdisasm failed"
fi
python3 scripts/sass_loops.py "$out/fused.sass" >"$out/loops.txt"
grep -E 'Compiling entry|spill' "$out/ptxas.txt" | sed -E "s/.*entry function '([^']*)'.*/\1/" |
    paste - - | sed -E 's/\s+/ /g'
echo "sass: $out/fused.sass, $out/loops.txt ($(grep -c '^_Z' "$out/loops.txt") kernels)"

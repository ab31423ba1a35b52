#!/usr/bin/env bash
# Prepares .deps/ for a GPU machine that may lack libpng's and zlib's development files (it has
# CUDA and CMake, but nothing can be installed there): Debian's libpng-dev and zlib1g-dev,
# unpacked, whose static libraries scripts/gpu-check.sh links when the machine has none of its own.
# Run it here (it needs Debian's package registry), then carry .deps with the data. Usage:
#   scripts/gpu-deps.sh        # -> .deps/usr/include, .deps/usr/lib/x86_64-linux-gnu/*.a
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download libpng-dev zlib1g-dev >/dev/null 2>&1) ||
    { echo "gpu-deps: apt-get download libpng-dev zlib1g-dev failed (run apt-get update?)" >&2; exit 1; }
rm -rf .deps
mkdir -p .deps
for deb in "$work"/*.deb; do dpkg -x "$deb" .deps; done
lib=.deps/usr/lib/x86_64-linux-gnu
find .deps -type l -delete # links may not travel; the real files are libpng16/ and libpng16.a
for f in .deps/usr/include/libpng16/png.h .deps/usr/include/zlib.h $lib/libpng16.a $lib/libz.a; do
    [[ -f $f ]] || { echo "gpu-deps: $f is missing from the packages" >&2; exit 1; }
done
rm -rf .deps/usr/share .deps/usr/bin "$lib"/*.so* "$lib"/pkgconfig
echo "gpu-deps: .deps holds libpng and zlib ($(du -sh .deps | cut -f1)); carry it with data/mnist"

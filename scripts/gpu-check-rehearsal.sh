#!/usr/bin/env bash
# A rehearsal of scripts/gpu-check.sh on a machine without a GPU, before spending a GPU session's
# minutes on it: a stand-in nvidia-smi (an H200, sm_90) lets the script configure, build and run
# every stage, so that a mistake in its own logic (a stage that stops the rest, a report part left
# empty, a hung-kernel guard that does not guard) shows here. Every GPU stage fails or skips, as
# it must without a device: the report then says so, and the script exits 1.
# Usage: scripts/gpu-check-rehearsal.sh [--profile | --all]   (OUT=DIR keeps the report files)
set -euo pipefail
cd "$(dirname "$0")/.."
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
cat >"$fake/nvidia-smi" <<'SMI'
#!/bin/sh
case "$*" in
*name*) echo "NVIDIA H200 (rehearsal, no GPU)" ;;
*driver_version*) echo "none" ;;
*compute_cap*) echo "9.0" ;;
*) echo "rehearsal: no GPU" ;;
esac
SMI
chmod +x "$fake/nvidia-smi"
rc=0
PATH="$fake:$PATH" scripts/gpu-check.sh "$@" || rc=$?
echo "rehearsal: gpu-check.sh exited $rc (1 is expected without a GPU)" >&2

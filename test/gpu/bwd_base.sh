#!/usr/bin/env bash
# Copies the CUDA kernel headers of git revision REV (default HEAD) to
# .device/bwd-base/rotor/cuda, and that revision's kernel_check_bwd.cu with
# the helpers it includes to .device/bwd-base/tests, for device_run.sh's
# bwdab step (the device machine gets the working tree without git
# history); with bench_only.cu: that build runs only kernel_check_bwd
# --bench, so the checks' entry point is defined to run none (the checks
# are built from the working tree's headers):
#
#   test/gpu/bwd_base.sh [REV]
set -euo pipefail
cd "$(dirname "$0")/../.."
REV=${1:-HEAD}
DIR=.device/bwd-base
rm -rf "$DIR"
mkdir -p "$DIR/rotor/cuda"
for f in $(git ls-tree --name-only "$REV" runtime/cuda/kernels/rotor/cuda/); do
  git show "$REV:$f" > "$DIR/rotor/cuda/$(basename "$f")"
done
mkdir -p "$DIR/tests"
for f in kernel_check_bwd.cu check_common.h timing.h; do
  git show "$REV:runtime/cuda/kernels/tests/$f" > "$DIR/tests/$f"
done
echo 'namespace check { int runAttentionBwdChecks() { return 0; } }' > "$DIR/bench_only.cu"
git rev-parse --short "$REV" > "$DIR/REV"
echo "headers of $(cat "$DIR/REV") in $DIR"

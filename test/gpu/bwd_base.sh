#!/usr/bin/env bash
# Copies the CUDA kernel headers of git revision REV (default HEAD) to
# .device/bwd-base/rotor/cuda, with a stub for the checks that
# kernel_check_bwd --bench does not need, for device_run.sh's bwdab step
# (the device machine gets the working tree without git history):
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
echo 'namespace check { int runAttentionBwdChecks() { return 0; } }' > "$DIR/stub.cu"
git rev-parse --short "$REV" > "$DIR/REV"
echo "headers of $(cat "$DIR/REV") in $DIR"

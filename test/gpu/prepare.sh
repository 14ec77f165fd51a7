#!/usr/bin/env bash
# Compiles the GPU cases and the GPU benchmark here (rotorc needs MLIR) into
# .device/ (git-ignored), ready to travel to a GPU machine:
#
#   test/gpu/prepare.sh [--no-models]
#   # on the GPU machine, from the repository root:
#   test/gpu/device_run.sh .device/gpu .device/bench OUT_DIR [build gtest cases bench sanitize]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${ROTOR_BUILD_DIR:-build}/bin
python3 test/gpu/make_cases.py --rotorc "$BIN/rotorc" --out .device/gpu "$@"
python3 bench/gpu/make_bench.py --rotorc "$BIN/rotorc" --out .device/bench
rm -rf .device/googletest
cp -r /usr/src/googletest .device/googletest
echo "ready: .device/gpu, .device/bench, .device/googletest"
# Training on the GPU: the copy model (loss against PyTorch) and the
# 8-layer decoder of the training-step benchmark.
bash bench/train/prepare_gpu.sh

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
# Training on the GPU: the copy model's CUDA artifact, and the CPU backend's
# loss curve from the same initial weights and data to compare with.
mkdir -p .device/train
python3 scripts/random_weights.py examples/models/train_copy.json \
  .device/train/init.safetensors --std=0.02 --seed=1
"$BIN/rotorc" examples/models/train_copy.json --train --dtype=f32 \
  --weights .device/train/init.safetensors --target=cuda -q -o .device/train/copy-cuda.rotor
"$BIN/rotorc" examples/models/train_copy.json --train --dtype=f32 \
  --weights .device/train/init.safetensors -q -o .device/train/copy-cpu.rotor
"$BIN/rotor-run" train .device/train/copy-cpu.rotor --task=copy --steps=200 \
  --batch=16 --seq=17 --lr=0.005 --warmup=40 --log-every=100 \
  --log .device/train/cpu.jsonl > /dev/null
echo "ready: .device/train (copy model, CPU loss curve)"

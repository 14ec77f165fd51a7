#!/usr/bin/env bash
# The main job: builds Rotor if needed, prints the optimized IR of the
# example decoder block, compiles it to a native artifact with rotorc and
# runs it with rotor-run on seeded random inputs (37 tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
BUILD_DIR=${ROTOR_BUILD_DIR:-build}
BIN="$BUILD_DIR/bin"
echo "== optimized rotor IR (rotor-opt --rotor-optimize)"
"$BIN/rotor-opt" examples/llama_block.mlir --rotor-optimize
echo "== compiling (rotorc)"
"$BIN/rotorc" examples/llama_block.mlir -o "$BUILD_DIR/examples/llama_block.rotor"
echo "== running on the CPU (rotor-run)"
"$BIN/rotor-run" "$BUILD_DIR/examples/llama_block.rotor" --random-inputs --seed=1 \
  --shape=x=1x37x256 --shape=positions=37 --repeat=10

#!/usr/bin/env bash
# The main job: builds Rotor if needed and compiles the example model
# description, printing the optimized IR.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
BUILD_DIR=${ROTOR_BUILD_DIR:-build}
"$BUILD_DIR/bin/rotor-opt" examples/llama_block.mlir --rotor-optimize

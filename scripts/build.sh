#!/usr/bin/env bash
# Configures (once) and builds Rotor incrementally into ${ROTOR_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ROTOR_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "$@"
fi
ninja -C "$BUILD_DIR"

#!/usr/bin/env bash
# Configures (once) and builds Rotor incrementally into ${ROTOR_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ROTOR_BUILD_DIR:-build}
LAUNCHER=()
if command -v ccache >/dev/null; then
  # Paths below the checkout are hashed relative to it, so that clones and
  # worktrees at other paths share one compiler cache.
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  LAUNCHER=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -G Ninja -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release "${LAUNCHER[@]}" "$@"
fi
ninja -C "$BUILD_DIR"

#!/usr/bin/env bash
# Installs the build of Rotor into a prefix inside the build directory, then
# configures, builds and tests the out-of-tree example examples/extension
# against that installation (find_package(Rotor CONFIG), the plugin loaded
# into the installed rotor-opt and rotorc). Called by scripts/test.sh after
# the main suites; docs/extending.md explains the example.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=$(realpath "${ROTOR_BUILD_DIR:-build}")
PREFIX=$BUILD_DIR/install
EXT_BUILD=$BUILD_DIR/examples-extension

# cmake --install copies only what changed, so the example rebuilds only what
# changed too (CI starts from a clean clone, hence an empty prefix).
cmake --install "$BUILD_DIR" --prefix "$PREFIX" >/dev/null

LAUNCHER=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -G Ninja -S examples/extension -B "$EXT_BUILD" \
  -DCMAKE_BUILD_TYPE=Release -DRotor_DIR="$PREFIX/lib/cmake/rotor" \
  "${LAUNCHER[@]}" >/dev/null
ninja -C "$EXT_BUILD"
ctest --test-dir "$EXT_BUILD" --output-on-failure -j "$(nproc)"

#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every suite
# (GoogleTest suites, the lit suite, the numerics suite) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BUILD_DIR=${ROTOR_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"
# The out-of-tree example, built and tested against the installed Rotor.
scripts/test_extension.sh

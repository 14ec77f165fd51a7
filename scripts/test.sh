#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every suite
# (GoogleTest suites, the lit suite, the numerics suite) through ctest; then
# builds the same suites with Clang, AddressSanitizer and
# UndefinedBehaviorSanitizer into ${ROTOR_ASAN_BUILD_DIR:-build-asan}, with
# the libFuzzer targets, and runs them all again there together with a short
# run of each fuzzer (docs/robustness.md). ROTOR_SANITIZED=0 skips the
# second build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BUILD_DIR=${ROTOR_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)"

# The out-of-tree example, built and tested against the installed Rotor.
scripts/test_extension.sh

if [ "${ROTOR_SANITIZED:-1}" != 0 ]; then
  ASAN_DIR=${ROTOR_ASAN_BUILD_DIR:-build-asan}
  CC=clang-22 CXX=clang++-22 ROTOR_BUILD_DIR=$ASAN_DIR scripts/build.sh \
    -DROTOR_SANITIZE=address,undefined -DROTOR_BUILD_FUZZERS=ON
  ctest --test-dir "$ASAN_DIR" --output-on-failure -j "$(nproc)"
fi

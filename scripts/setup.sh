#!/usr/bin/env bash
# Installs what Rotor's build and tests need on Debian 12; does nothing when
# everything is there already. Safe to run repeatedly.
set -euo pipefail

APT_PACKAGES=(
  cmake ninja-build g++ git
  libmlir-22-dev mlir-22-tools llvm-22-dev llvm-22-tools
  libgtest-dev libopenblas-dev libomp-22-dev ccache
  clang-22 libclang-rt-22-dev
)
PY_PACKAGES=(numpy pytest)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

py_missing=()
for p in "${PY_PACKAGES[@]}"; do
  python3 -c "import $p" 2>/dev/null || py_missing+=("$p")
done
if [ ${#py_missing[@]} -gt 0 ]; then
  echo "setup: pip installing ${py_missing[*]}"
  python3 -m pip install --quiet "${py_missing[@]}" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "${py_missing[@]}"
fi

#!/usr/bin/env bash
# CPU attention benchmark: compiles the benchmark artifacts with rotorc,
# runs them next to OpenBLAS sgemm (same thread count) and writes
# bench/results/cpu-attention.md.
#
#   bench/run_cpu.sh            (after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${ROTOR_BUILD_DIR:-build}
ROTORC="$BUILD_DIR/bin/rotorc"
BENCH="$BUILD_DIR/bin/attention-bench"
[ -x "$ROTORC" ] && [ -x "$BENCH" ] || { echo "run scripts/build.sh first (and install libopenblas-dev)"; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

module() { # name mask-attribute
  cat > "$WORK/$1.mlir" <<MLIR
func.func @f(%q: tensor<1x?x?x128xf32>, %k: tensor<1x?x?x128xf32>, %v: tensor<1x?x?x128xf32>) -> tensor<1x?x?x128xf32> {
  %o = rotor.attention %q, %k, %v {mask = $2} : tensor<1x?x?x128xf32>, tensor<1x?x?x128xf32>, tensor<1x?x?x128xf32>
  return %o : tensor<1x?x?x128xf32>
}
MLIR
  "$ROTORC" -q "$WORK/$1.mlir" -o "$WORK/$1.rotor"
}
module causal '#rotor.mask<causal = true>'
module window '#rotor.mask<causal = true, window_left = 1023>'

OUT=bench/results/cpu-attention.md
TMP=$(mktemp)
{
  echo "# CPU attention (forward, f32, head dim 128)"
  echo
  echo "- date: $(date -u +%Y-%m-%d)"
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo "- command: \`bench/run_cpu.sh\`"
  echo "- FLOPs: 4 · heads · head_dim · (visible (query, key) pairs)"
  echo "- Rotor and OpenBLAS run with the same number of threads (OMP_NUM_THREADS,"
  echo "  OPENBLAS_NUM_THREADS), once with one thread and once with every core."
  for threads in 1 $(nproc); do
    echo
    echo "## $threads thread(s)"
    echo
    memory=()
    [ "$threads" = 1 ] && memory=(--memory-seqs 4096,8192,16384,32768,65536)
    OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads \
      "$BENCH" --artifact "full causal=$WORK/causal.rotor:causal" \
               --artifact "sliding window 1024=$WORK/window.rotor:window:1024" \
               --seq 4096 --heads 4 --head-dim 128 "${memory[@]}"
  done
  echo
  echo "Peak extra memory: the largest resident size sampled (every 100 µs) during one"
  echo "call (sliding window, one head, one thread) above the resident size before it."
  echo "It is the output the kernel writes plus the runtime's dense copy of it, and the"
  echo "scratch tiles: linear in S, never an S×S matrix."
} > "$TMP"
mv "$TMP" "$OUT"
cat "$OUT"

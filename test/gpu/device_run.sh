#!/usr/bin/env bash
# Runs on the device machine (NVIDIA GPU, CUDA toolkit, PyTorch; no MLIR):
# builds the runtime standalone, then runs the GPU numerics cases and the
# attention benchmark on artifacts compiled beforehand by rotorc:
#
#   test/gpu/device_run.sh CASES_DIR BENCH_DIR OUT_DIR [what...]
#
# what: any of build, cases, bench, sanitize, kernels (default: all but sanitize).
set -uo pipefail
cd "$(dirname "$0")/../.."
CASES=$1 BENCH=$2 OUT=$3
shift 3
WHAT=${*:-build cases bench kernels}
export PYTHONUNBUFFERED=1
RT=/tmp/rotor-rt
status=0
has() { [[ " $WHAT " == *" $1 "* ]]; }

if has build; then
  { cmake -S runtime -B $RT -DCMAKE_BUILD_TYPE=Release -DROTOR_BUILD_TESTS=OFF \
      && cmake --build $RT -j16; } > "$OUT/build.log" 2>&1 \
    || { echo "runtime build failed"; tail -30 "$OUT/build.log"; exit 1; }
  echo "runtime built: $(grep -i 'CUDA backend' "$OUT/build.log")"
fi
if has cases; then
  python3 test/gpu/run_cases.py "$CASES" --runtime $RT/lib/librotor_runtime.so \
    --rotor-run $RT/bin/rotor-run 2>&1 | tee "$OUT/gpu-cases.log"
  status=$((status | PIPESTATUS[0]))
fi
if has bench; then
  python3 bench/gpu/attention_bench.py "$BENCH/bench.rotor" --rotor-run $RT/bin/rotor-run \
    --out "$OUT/gpu-attention.md" 2>&1 | tee "$OUT/gpu-bench.log" | grep -v "^{" 
fi
if has kernels; then
  { cmake -S runtime/cuda/kernels/tests -B /tmp/kc -DCMAKE_CUDA_ARCHITECTURES=90a \
      && cmake --build /tmp/kc -j16; } > "$OUT/kernels-build.log" 2>&1 \
    && (/tmp/kc/kernel_check 2>&1 | tail -60 | tee "$OUT/kernel-check.log")
fi
if has sanitize; then
  for tool in memcheck racecheck; do
    /usr/local/cuda/bin/compute-sanitizer --tool $tool --error-exitcode 1 \
      python3 test/gpu/run_cases.py "$CASES" --runtime $RT/lib/librotor_runtime.so \
      --rotor-run $RT/bin/rotor-run --ops-only > "$OUT/sanitizer-$tool.log" 2>&1
    echo "compute-sanitizer $tool: exit $?"; tail -3 "$OUT/sanitizer-$tool.log"
  done
fi
exit $status

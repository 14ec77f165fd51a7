#!/usr/bin/env bash
# Runs on the device machine (NVIDIA GPU, CUDA toolkit, PyTorch; no MLIR):
# builds the runtime standalone, then runs the GPU numerics cases and the
# attention benchmark on artifacts compiled beforehand by rotorc:
#
#   test/gpu/device_run.sh CASES_DIR BENCH_DIR OUT_DIR [what...]
#
# what: any of build, gtest, cases, bench, sanitize, kernels, bwd, bwdab, bwdprof, train,
# trainbench, decode (default: build cases bench kernels). bwd builds only
# kernel_check_bwd (the attention backward's checks, a quick build) and runs
# them, then its --bench (AttentionBwdWgmma next to AttentionBwdMma on the
# anchor shape); it can be given alone, without build. decode runs the decoding
# benchmark (bench/gpu/decode_bench.py) on .device/decode from
# bench/gpu/make_decode.sh. gtest builds GoogleTest from .device/googletest (a copy
# of Debian's /usr/src/googletest: the device machine has none) and runs the
# runtime's suite, whose GPU tests run there instead of skipping. bwdab
# builds kernel_check_bwd twice, from these headers and from the copy of a
# revision's headers and benchmark in $BWD_BASE (default .device/bwd-base,
# made here by test/gpu/bwd_base.sh REV), and runs both --bench twice,
# interleaved: a same-call A/B of a
# change to the backward kernels. bwdprof profiles one launch of the
# backward's main kernel with Nsight Compute (details, and per-instruction
# stall samples of the SASS as CSV). ROTOR_RT: the runtime's build directory
# (default /tmp/rotor-rt; a path under the repository, e.g. build-dev/rt,
# survives between calls on a warm machine).
set -uo pipefail
cd "$(dirname "$0")/../.."
CASES=$1 BENCH=$2 OUT=$3
shift 3
WHAT=${*:-build cases bench kernels}
export PYTHONUNBUFFERED=1
RT=${ROTOR_RT:-/tmp/rotor-rt}
status=0
has() { [[ " $WHAT " == *" $1 "* ]]; }

if has build; then
  { cmake -S runtime -B $RT -DCMAKE_BUILD_TYPE=Release -DROTOR_BUILD_TESTS=OFF \
      && cmake --build $RT -j16; } > "$OUT/build.log" 2>&1 \
    || { echo "runtime build failed"; tail -30 "$OUT/build.log"; exit 1; }
  echo "runtime built: $(grep -i 'CUDA backend' "$OUT/build.log")"
fi
if has gtest; then
  { cmake -S .device/googletest -B /tmp/gt -DCMAKE_INSTALL_PREFIX=/tmp/gt-install \
      && cmake --build /tmp/gt -j16 --target install \
      && cmake -S runtime -B /tmp/rt-tests -DCMAKE_BUILD_TYPE=Release \
           -DCMAKE_PREFIX_PATH=/tmp/gt-install -DROTOR_CUDA_KERNEL_TESTS=OFF \
      && cmake --build /tmp/rt-tests -j16; } > "$OUT/gtest-build.log" 2>&1 \
    || { echo "gtest build failed"; tail -20 "$OUT/gtest-build.log"; }
  (cd /tmp/rt-tests && ctest -j16 --output-on-failure) > "$OUT/gtest.log" 2>&1
  echo "runtime GoogleTest suite on the GPU machine: exit $?"; tail -4 "$OUT/gtest.log"
  "$(find /tmp/rt-tests -name RotorRuntimeTests -type f | head -1)" --gtest_filter='Cuda*:*CudaPlan*' 2>&1 \
    | grep -E "OK|SKIPPED|FAILED|PASSED" | tail -8
fi
if has cases; then
  python3 test/gpu/run_cases.py "$CASES" --runtime $RT/lib/librotor_runtime.so \
    --rotor-run $RT/bin/rotor-run ${CASES_ARGS:-} 2>&1 | tee "$OUT/gpu-cases.log"
  status=$((status | PIPESTATUS[0]))
fi
if has bench; then
  python3 bench/gpu/attention_bench.py "$BENCH/bench.rotor" --rotor-run $RT/bin/rotor-run \
    --out "$OUT/gpu-attention.md" 2>&1 | tee "$OUT/gpu-bench.log" | grep -v "^{" 
fi
if has kernels; then
  { cmake -S runtime/cuda/kernels/tests -B /tmp/kc -DCMAKE_CUDA_ARCHITECTURES=90a \
      && cmake --build /tmp/kc -j16; } > "$OUT/kernels-build.log" 2>&1 \
    && (/tmp/kc/kernel_check ${KERNEL_CHECK_ARGS:-} 2>&1 | tail -60 | tee "$OUT/kernel-check.log")
fi
# kernel_check_bwd from these headers, in /tmp/kc.
buildBwdCheck() {
  { cmake -S runtime/cuda/kernels/tests -B /tmp/kc -DCMAKE_CUDA_ARCHITECTURES=90a \
      && cmake --build /tmp/kc -j16 --target kernel_check_bwd; } > "$OUT/kernels-bwd-build.log" 2>&1
}
if has bwd; then
  buildBwdCheck \
    || { echo "kernel_check_bwd build failed"; tail -20 "$OUT/kernels-bwd-build.log"; status=1; }
  if [ -x /tmp/kc/kernel_check_bwd ]; then
    /tmp/kc/kernel_check_bwd > "$OUT/kernel-check-bwd.log" 2>&1
    rc=$?; echo "kernel_check_bwd: $rc failed"; status=$((status | (rc != 0)))
    grep -iE "fail" "$OUT/kernel-check-bwd.log" | head -20
    /tmp/kc/kernel_check_bwd --bench 2>&1 | tee "$OUT/kernel-check-bwd-bench.log" | tail -12
    status=$((status | PIPESTATUS[0]))
  fi
fi
if has bwdab; then
  BASE=${BWD_BASE:-.device/bwd-base}
  buildBwdCheck &
  new=$!
  /usr/local/cuda/bin/nvcc -std=c++17 -O3 -lineinfo -gencode arch=compute_90a,code=sm_90a \
    -I"$BASE" -o /tmp/kc-base "$BASE/tests/kernel_check_bwd.cu" \
    "$BASE/bench_only.cu" > "$OUT/kernels-bwd-base-build.log" 2>&1 &
  base=$!
  wait $new; rcNew=$?
  wait $base; rcBase=$?
  if [ $rcNew = 0 ] && [ $rcBase = 0 ]; then
    for i in 1 2; do
      echo "== these headers, run $i"; /tmp/kc/kernel_check_bwd --bench 2>&1
      echo "== $(cat "$BASE/REV"), run $i"; /tmp/kc-base --bench 2>&1
    done | tee "$OUT/kernel-check-bwd-ab.log"
  else
    echo "bwdab: a build failed"; tail -n 20 "$OUT"/kernels-bwd*build.log; status=1
  fi
fi
if has bwdprof; then
  # Nsight Compute on one launch of AttentionBwdWgmma (causal, the first
  # kernel of kernel_check_bwd --bench), full set with PC sampling: the
  # details page, and the SASS with its stall samples per instruction.
  NCU=/usr/local/cuda/bin/ncu
  buildBwdCheck \
    && $NCU --kernel-name-base demangled -k regex:AttentionBwdWgmma --launch-count 1 --set full \
         --import-source yes -f -o /tmp/bwdprof /tmp/kc/kernel_check_bwd --bench \
         > "$OUT/bwdprof.log" 2>&1 \
    && $NCU -i /tmp/bwdprof.ncu-rep --page details > "$OUT/bwdprof-details.txt" 2>&1 \
    && $NCU -i /tmp/bwdprof.ncu-rep --page source --csv --print-source sass \
         > "$OUT/bwdprof-sass.csv" 2>&1
  echo "bwdprof: exit $?"; tail -n 3 "$OUT/bwdprof.log"
fi
if has train; then
  # The copy model trained on the GPU against the PyTorch reference (same
  # weights, batches and options), with the state on the device and, for
  # comparison, with the host optimizer.
  ROTOR_BUILD_DIR=$RT bash bench/train/compare_with_torch.sh --device=cuda \
    --artifact=.device/train/copy-cuda.rotor --out=/tmp/train-copy \
    --markdown="$OUT/train-vs-torch-gpu.md" > "$OUT/train-vs-torch-gpu.log" 2>&1
  echo "GPU training vs PyTorch (device-resident): exit $?"; tail -5 "$OUT/train-vs-torch-gpu.log"
  ROTOR_TRAIN_HOST_UPDATE=1 ROTOR_BUILD_DIR=$RT bash bench/train/compare_with_torch.sh \
    --device=cuda --artifact=.device/train/copy-cuda.rotor --out=/tmp/train-copy-host \
    > "$OUT/train-vs-torch-gpu-host.log" 2>&1
  echo "GPU training vs PyTorch (host optimizer): exit $?"; tail -3 "$OUT/train-vs-torch-gpu-host.log"
  # Mixed precision: the bf16 copy model with f32 master weights.
  $RT/bin/rotor-run train .device/train/copy-bf16-cuda.rotor --device=cuda --task=copy \
    --steps=400 --batch=16 --seq=17 --lr=0.005 --warmup=40 --log-every=100 \
    --log "$OUT/train-copy-bf16-gpu.jsonl" 2>&1 | tail -6 | tee "$OUT/train-copy-bf16-gpu.log"
fi
if has trainbench; then
  python3 bench/train/train_bench.py --config bench/train/decoder-8l-1024.json \
    --rotor-artifact .device/train/decoder-cuda.rotor \
    --rotor-artifact .device/train/decoder-bf16-cuda.rotor --rotor-run $RT/bin/rotor-run \
    --markdown "$OUT/train-bench.md" 2>&1 | tee "$OUT/train-bench.log" | tail -30
fi
if has decode; then
  python3 bench/gpu/decode_bench.py --artifact .device/decode/decoder-bf16.rotor \
    --config .device/decode/config.json --rotor-run $RT/bin/rotor-run \
    --markdown "$OUT/gpu-decode.md" > "$OUT/gpu-decode.log" 2>&1
  echo "decode benchmark: exit $?"; tail -12 "$OUT/gpu-decode.log"
fi
if has sanitize; then
  for tool in memcheck racecheck; do
    /usr/local/cuda/bin/compute-sanitizer --tool $tool --error-exitcode 1 \
      python3 test/gpu/run_cases.py "$CASES" --runtime $RT/lib/librotor_runtime.so \
      --rotor-run $RT/bin/rotor-run --ops-only --no-torch > "$OUT/sanitizer-$tool.log" 2>&1
    echo "compute-sanitizer $tool: exit $?"; tail -3 "$OUT/sanitizer-$tool.log"
  done
fi
exit $status

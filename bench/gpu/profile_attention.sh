#!/usr/bin/env bash
# Runs on the device machine: builds kernel_check, runs its checks and
# profiles chosen forward kernels of kernel_check --bench with Nsight
# Compute, exporting the details page and the per-instruction (SASS) page as
# CSV under OUT and printing the stall hot spots:
#
#   bench/gpu/profile_attention.sh OUT [NAME=ROW ...]
#
# NAME=ROW profiles the sixth launch (past the five warm-up launches) of the
# kernel_check --bench row named ROW (kernel_check --bench --rows ROW), e.g.
# causal="full causal" "full8=full (no mask): tweaks 8". KC_ARGS: extra
# kernel_check arguments for the checks (e.g. "--only fwd,simple");
# KC_SKIP_CHECKS=1 skips them.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=$1
shift
KC=/tmp/kc
{ cmake -S runtime/cuda/kernels/tests -B $KC -DCMAKE_CUDA_ARCHITECTURES=90a \
    && cmake --build $KC -j16; } > "$OUT/kc-build.log" 2>&1 \
  || { echo "kernel_check build failed"; tail -30 "$OUT/kc-build.log"; exit 1; }
if [ "${KC_SKIP_CHECKS:-0}" != 1 ]; then
  timeout 200 $KC/kernel_check ${KC_ARGS:-} > "$OUT/check.log" 2>&1
  echo "kernel_check: exit $?"; grep -E "FAIL|passed" "$OUT/check.log" | tail -8
fi
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
for spec in "$@"; do
  name=${spec%%=*} row=${spec#*=}
  timeout 240 "$NCU" --clock-control none --kernel-name-base demangled \
    -k regex:AttentionFwd --launch-skip 5 \
    --launch-count 1 --set full --kill on -f -o "/tmp/$name" \
    $KC/kernel_check --bench --rows "$row" > "/tmp/ncu-$name.log" 2>&1
  echo "ncu $name: exit $?"; tail -2 "/tmp/ncu-$name.log"
  "$NCU" --import "/tmp/$name.ncu-rep" --page details --csv > "$OUT/$name-details.csv" 2>&1
  "$NCU" --import "/tmp/$name.ncu-rep" --page source --csv --print-source sass \
    > "$OUT/$name-sass.csv" 2>&1 || true
  grep -E '"(Duration|Compute \(SM\) Throughput|Memory Throughput|L2 Hit Rate|Registers Per Thread|Achieved Occupancy|Issue Slots Busy|No Eligible|Eligible Warps Per Scheduler|Executed Ipc Active)"' \
    "$OUT/$name-details.csv" | awk -F'","' '{print "  " $(NF-2) " = " $NF}' | head -20
  python3 bench/gpu/ncu_hotspots.py "$OUT/$name-sass.csv" --top 30
done

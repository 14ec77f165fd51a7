#!/usr/bin/env bash
# Cold compile time of whole 32-layer models (issue 4): runs rotorc on each
# config several times and prints, per config, the median and minimum wall
# time, the median and minimum user+sys CPU time, and the per-stage wall
# times of the median run (from -mlir-timing). Nothing is cached between
# runs (each writes a fresh artifact).
#
#   bench/compile_time.sh [-n RUNS] [-r ROTORC] [CONFIG.json...]
#
# Default configs: bench/configs/llama-tiny-32l.json (examples/models/
# llama.json with 32 layers) and bench/configs/llama-7b-shape-32l.json
# (Llama-7B shapes: hidden 4096, 32 heads, 8 KV heads, intermediate 11008,
# bf16; no weights are needed to compile).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=5
rotorc=${ROTOR_BUILD_DIR:-build}/bin/rotorc
while getopts "n:r:" opt; do
  case $opt in
    n) runs=$OPTARG ;;
    r) rotorc=$OPTARG ;;
    *) echo "usage: $0 [-n RUNS] [-r ROTORC] [CONFIG.json...]" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
configs=("$@")
[ ${#configs[@]} -gt 0 ] ||
  configs=(bench/configs/llama-tiny-32l.json bench/configs/llama-7b-shape-32l.json)
[ -x "$rotorc" ] || { echo "$0: no rotorc at $rotorc (build first)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
minimum() { sort -g | head -1; }

echo "# rotorc compile time: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $runs runs each"
for config in "${configs[@]}"; do
  : >"$work/times"
  for i in $(seq "$runs"); do
    /usr/bin/time -f "%e %U %S" -o "$work/time.$i" \
      "$rotorc" -q "$config" -o "$work/out.rotor" -mlir-timing \
      -mlir-output-format=text 2>"$work/timing.$i"
    read -r wall user sys <"$work/time.$i"
    echo "$wall $(echo "$user + $sys" | bc) $i" >>"$work/times"
  done
  wall_med=$(cut -d' ' -f1 "$work/times" | median)
  cpu_med=$(cut -d' ' -f2 "$work/times" | median)
  wall_min=$(cut -d' ' -f1 "$work/times" | minimum)
  cpu_min=$(cut -d' ' -f2 "$work/times" | minimum)
  med_run=$(sort -g "$work/times" | awk -v n="$runs" 'NR==int((n+1)/2){print $3}')
  echo
  echo "## $config"
  echo "wall: median ${wall_med} s, min ${wall_min} s; cpu (user+sys): median ${cpu_med} s, min ${cpu_min} s"
  echo "stages of the median run (wall s):"
  # Top-level stages of the timing report (two-space indent after the
  # percentages), and the total.
  sed -nE 's/^ +[0-9.]+ \( *[0-9.]+%\) +([0-9.]+) \( *[0-9.]+%\)  ([^ ].*)$/  \2: \1/p' \
    "$work/timing.$med_run"
done

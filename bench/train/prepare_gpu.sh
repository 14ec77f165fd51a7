#!/usr/bin/env bash
# Compiles the GPU training artifacts here (rotorc needs MLIR) into
# .device/train/ (git-ignored), to carry to the GPU machine:
#
#   .device/train/copy-cuda.rotor     examples/models/train_copy.json, the
#       loss comparison with PyTorch (bench/train/compare_with_torch.sh
#       --device=cuda --artifact=...), with its weights (random, std 0.02,
#       seed 1, as compare_with_torch.sh makes them for the CPU);
#   .device/train/decoder-cuda.rotor  bench/train/decoder-8l-1024.json, the
#       training-step benchmark (bench/train/train_bench.py), WITHOUT its
#       weights file (620 MB of f32; train_bench.py writes the PyTorch
#       model's initial weights into it on the GPU machine);
#   .device/train/copy-bf16-cuda.rotor  the copy model in bf16 with f32
#       master weights (mixed precision), with its weights;
#   .device/train/decoder-bf16-cuda.rotor  the decoder in bf16 with f32 master
#       weights (mixed precision), also without weights.
#
# All are rotorc --train --target=cuda, --dtype=f32 unless stated. A model that does not
# compile is reported and left out (the benchmark then reports Rotor as
# failed and keeps the PyTorch numbers); the exit status is 1 then.
#
#   bench/train/prepare_gpu.sh
#   # on the GPU machine, from the repository root (see docs/training.md):
#   test/gpu/device_run.sh .device/gpu .device/bench OUT build   # rotor-run
#   python3 bench/train/train_bench.py --rotor-artifact .device/train/decoder-cuda.rotor
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${ROTOR_BUILD_DIR:-build}/bin
OUT=.device/train
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"
status=0
compile() {  # NAME CONFIG KEEP_WEIGHTS [DTYPE]
  local name=$1 config=$2 keep=$3 dtype=${4:-f32}
  rm -rf "$OUT/$name.rotor"
  python3 scripts/random_weights.py "$config" "$TMP/$name.safetensors" \
    --std=0.02 --seed=1 --dtype="$dtype" >/dev/null || { status=1; return; }
  if "$BIN/rotorc" "$config" --train --weights "$TMP/$name.safetensors" \
       --dtype="$dtype" --target=cuda -q -o "$OUT/$name.rotor" 2> "$TMP/$name.err"; then
    [ "$keep" = keep ] || rm -f "$OUT/$name.rotor/weights.safetensors"
    echo "compiled $OUT/$name.rotor ($(du -sh "$OUT/$name.rotor" | cut -f1))"
  else
    status=1
    rm -rf "$OUT/$name.rotor"
    echo "$config does not compile for CUDA training:"
    head -3 "$TMP/$name.err" | sed 's/^/  /'
  fi
}
compile copy-cuda examples/models/train_copy.json keep
sed 's/"torch_dtype": "float32"/"torch_dtype": "bfloat16"/' examples/models/train_copy.json \
  > "$TMP/train_copy_bf16.json"
compile copy-bf16-cuda "$TMP/train_copy_bf16.json" keep bf16
compile decoder-cuda bench/train/decoder-8l-1024.json drop
compile decoder-bf16-cuda bench/train/decoder-8l-1024.json drop bf16
exit $status

#!/usr/bin/env bash
# GPU training of the example models whose training step compiles for the
# CUDA target, checked against the CPU backend: the same initial weights,
# batches and options, the per-step losses and gradient norms compared by
# bench/train/compare_losses.py (f32 on both sides).
#
#   test/gpu/train_models.sh prepare          # here (rotorc): .device/trainmodels
#   test/gpu/train_models.sh run OUT_DIR      # on the GPU machine, after
#                                             # test/gpu/device_run.sh ... build
set -uo pipefail
cd "$(dirname "$0")/../.."
DIR=.device/trainmodels
MODELS=${TRAIN_MODELS:-"givens relbias mistral qwen2 dilated chunked hybrid layernorm_gelu conv sinusoidal learned_base"}
OPTS="--task=copy --steps=30 --batch=4 --seq=33 --lr=0.002 --warmup=5 --log-every=30"
case "${1:-}" in
  prepare)
    BIN=${ROTOR_BUILD_DIR:-build}/bin
    mkdir -p "$DIR"
    for m in $MODELS; do
      # Weights from the training entry's parameter shapes (random_weights.py
      # models plain Llama/Mistral/Qwen2 configs only): norms 1 + 0.1 N(0, 1),
      # angles U(-1, 1), a learned rope base the config's rope_theta, the
      # rest 0.02 N(0, 1).
      "$BIN/rotorc" examples/models/$m.json --train --dtype=f32 -q -o "$DIR/$m-shapes.rotor"
      python3 - "$DIR/$m-shapes.rotor/manifest.json" "$DIR/$m.safetensors" \
        examples/models/$m.json <<'PY'
import json, sys
import numpy as np
sys.path.insert(0, "test/numerics")
import safetensors_io
entry = next(e for e in json.load(open(sys.argv[1]))["entries"] if e["name"] == "train_step")
rng = np.random.default_rng(3)
theta = json.load(open(sys.argv[3])).get("rope_theta", 10000.0)
out = {}
for spec in entry["inputs"][2:]:
    name, shape = spec["name"], tuple(spec["shape"])
    if name == "loss_scale":
        continue
    if "norm" in name:
        w = 1.0 + 0.1 * rng.standard_normal(shape)
    elif name.endswith("rope.base"):
        w = np.full(shape, theta)
    elif name.endswith("angles"):
        w = rng.uniform(-1.0, 1.0, size=shape)
    else:
        w = 0.02 * rng.standard_normal(shape)
    out[name] = w.astype(np.float32)
safetensors_io.save(sys.argv[2], out)
PY
      rm -rf "$DIR/$m-shapes.rotor"
      "$BIN/rotorc" examples/models/$m.json --train --dtype=f32 -q \
        --weights "$DIR/$m.safetensors" -o "$DIR/$m-cpu.rotor"
      "$BIN/rotorc" examples/models/$m.json --train --dtype=f32 --target=cuda -q \
        --weights "$DIR/$m.safetensors" -o "$DIR/$m-cuda.rotor"
      "$BIN/rotor-run" train "$DIR/$m-cpu.rotor" $OPTS --quiet --log "$DIR/$m-cpu.jsonl"
      rm -rf "$DIR/$m-cpu.rotor"
      echo "prepared $m"
    done ;;
  run)
    OUT=$2 RT=${ROTOR_RT:-/tmp/rotor-rt} status=0
    mkdir -p "$OUT"
    for m in $MODELS; do
      $RT/bin/rotor-run train "$DIR/$m-cuda.rotor" --device=cuda $OPTS --quiet \
        --log "$OUT/$m-gpu.jsonl" || { status=1; echo "$m: GPU training failed"; continue; }
      python3 bench/train/compare_losses.py "$OUT/$m-gpu.jsonl" "$DIR/$m-cpu.jsonl" \
        --steps 30 > "$OUT/$m-compare.txt" 2>&1
      rc=$?; status=$((status | rc))
      echo "$m (GPU vs CPU): exit $rc: $(tail -1 "$OUT/$m-compare.txt")"
    done
    exit $status ;;
  *) echo "usage: train_models.sh prepare | run OUT_DIR" >&2; exit 2 ;;
esac

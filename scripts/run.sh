#!/usr/bin/env bash
# The main job: builds Rotor if needed, then
#  1. compiles a Llama-style model description (examples/models/llama.json)
#     with random weights into a native artifact (rotorc),
#  2. runs greedy generation through the KV cache (prefill + decode) and,
#     to show they agree, by recomputing from scratch (rotor-run generate),
#  3. optimizes, compiles and runs the example decoder block written in the
#     rotor dialect (examples/llama_block.mlir),
#  4. compiles a small tied-embedding Llama (examples/models/train_copy.json)
#     with its training entry (rotorc --train: train_step, gradients by the
#     rotor-autodiff pass) and trains it on the copy task (rotor-run train):
#     the loss falls from about log(16) to near zero; the metrics go to
#     build/examples/train/metrics.jsonl and the curve to .../loss.png.
# Everything runs on the CPU; when an NVIDIA GPU and its driver are present
# (nvidia-smi works), the model is also compiled for the GPU (rotorc
# --target=cuda), generates there (rotor-run --device=cuda), and the copy model
# trains there with its parameters and optimizer state in device memory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh >/dev/null
BUILD_DIR=${ROTOR_BUILD_DIR:-build}
BIN="$BUILD_DIR/bin"
OUT="$BUILD_DIR/examples"
mkdir -p "$OUT"

echo "== compiling examples/models/llama.json (rotorc)"
python3 scripts/random_weights.py examples/models/llama.json "$OUT/llama.safetensors"
"$BIN/rotorc" examples/models/llama.json --weights "$OUT/llama.safetensors" \
  --dtype=f32 -o "$OUT/llama.rotor"
echo "== greedy generation with the KV cache (rotor-run generate)"
"$BIN/rotor-run" generate "$OUT/llama.rotor" --prompt-ids=1,5,9,14 --max-new-tokens=16
echo "== the same, recomputing every step from scratch"
"$BIN/rotor-run" generate "$OUT/llama.rotor" --prompt-ids=1,5,9,14 --max-new-tokens=16 --recompute

echo "== the example decoder block: optimized rotor IR (rotor-opt --rotor-optimize)"
"$BIN/rotor-opt" examples/llama_block.mlir --rotor-optimize
echo "== compiling and running it on 37 random tokens"
"$BIN/rotorc" -q examples/llama_block.mlir -o "$OUT/llama_block.rotor"
"$BIN/rotor-run" "$OUT/llama_block.rotor" --random-inputs --seed=1 \
  --shape=x=1x37x256 --shape=positions=37 --repeat=10

echo "== compiling examples/models/train_copy.json with its training entry (rotorc --train)"
mkdir -p "$OUT/train"
python3 scripts/random_weights.py examples/models/train_copy.json \
  "$OUT/train/init.safetensors" --std=0.02 --seed=1
"$BIN/rotorc" examples/models/train_copy.json --train \
  --weights "$OUT/train/init.safetensors" --dtype=f32 -o "$OUT/train/copy.rotor"
echo "== training it on the copy task (rotor-run train)"
"$BIN/rotor-run" train "$OUT/train/copy.rotor" --task=copy --steps=400 \
  --batch=16 --seq=17 --lr=0.005 --warmup=40 --log-every=50 \
  --log "$OUT/train/metrics.jsonl" --plot "$OUT/train/loss.png"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  if ! grep -q '^ROTOR_CUDA_HEADERS:PATH=/' "$BUILD_DIR/CMakeCache.txt"; then
    echo "== a GPU is present, but this build has no CUDA backend (install the CUDA"
    echo "   toolkit in /usr/local/cuda and rebuild to run on it)"
    exit 0
  fi
  echo "== a GPU is present: compiling the model for it (rotorc --target=cuda)"
  "$BIN/rotorc" examples/models/llama.json --weights "$OUT/llama.safetensors" \
    --dtype=f32 --target=cuda -o "$OUT/llama-cuda.rotor"
  echo "== greedy generation on the GPU (rotor-run generate --device=cuda)"
  "$BIN/rotor-run" generate "$OUT/llama-cuda.rotor" --device=cuda \
    --prompt-ids=1,5,9,14 --max-new-tokens=16
  echo "== training the copy model on the GPU (parameters and optimizer state on the device)"
  "$BIN/rotorc" examples/models/train_copy.json --train \
    --weights "$OUT/train/init.safetensors" --dtype=f32 --target=cuda \
    -o "$OUT/train/copy-cuda.rotor"
  "$BIN/rotor-run" train "$OUT/train/copy-cuda.rotor" --device=cuda --task=copy \
    --steps=400 --batch=16 --seq=17 --lr=0.005 --warmup=40 --log-every=50 \
    --log "$OUT/train/metrics-cuda.jsonl" --plot "$OUT/train/loss-cuda.png"
fi

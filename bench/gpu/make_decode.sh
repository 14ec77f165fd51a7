#!/usr/bin/env bash
# Compiles the decoding benchmark's artifact here (rotorc needs MLIR) into
# .device/decode/ (git-ignored), to carry to the GPU machine:
# bench/train/decoder-8l-1024.json (Mistral-style, 8 layers, hidden 1024,
# GQA 16/4, window 256, vocabulary 32000) in bf16 for --target=cuda, which
# builds prefill, decode (growing caches) and decode_static (fixed-capacity
# caches, replayed as a CUDA graph). The weights file (310 MB) stays here:
# bench/gpu/decode_bench.py writes the same random weights (seed 1, std 0.16)
# into the artifact on the GPU machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${ROTOR_BUILD_DIR:-build}/bin
OUT=.device/decode
CONFIG=bench/train/decoder-8l-1024.json
mkdir -p "$OUT"
rm -rf "$OUT/decoder-bf16.rotor"
python3 scripts/random_weights.py "$CONFIG" "$OUT/weights.safetensors" --seed=1 \
  --dtype=bf16 > /dev/null
"$BIN/rotorc" "$CONFIG" --weights "$OUT/weights.safetensors" --dtype=bf16 --target=cuda \
  -q -o "$OUT/decoder-bf16.rotor"
rm -f "$OUT/weights.safetensors" "$OUT/decoder-bf16.rotor/weights.safetensors"
cp "$CONFIG" "$OUT/config.json"
echo "compiled $OUT/decoder-bf16.rotor ($(du -sh "$OUT/decoder-bf16.rotor" | cut -f1))"

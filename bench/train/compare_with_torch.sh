#!/usr/bin/env bash
# Trains a model with rotor-run train and with the PyTorch reference
# (bench/train/torch_train.py) from the same initial weights (the artifact's
# weights.safetensors) on the same batches (rotor-run train --dump-batches)
# with the same options, and compares the losses (compare_losses.py).
#
#   bench/train/compare_with_torch.sh [--python=PY] [--device=cpu|cuda]
#       [--config=CONFIG.json] [--artifact=DIR] [--out=DIR] [--steps=N]
#       [--check=K] [--markdown=FILE.md] [--sensitivity] [--rotor-run=PATH]
#       [-- rotor-run train options...]
#
# --rotor-run: the rotor-run binary (default build/bin/rotor-run).
# --python: an interpreter with torch, transformers and safetensors (default
#   python3). --config (default examples/models/train_copy.json): the model;
#   without --artifact it gets random weights (std 0.02, seed 1) and is
#   compiled here with rotorc --train --dtype=f32 (for --device=cuda with
#   --target=cuda). --artifact: a train artifact compiled already (from
#   --config, e.g. on a machine without MLIR). --steps: steps trained
#   (default 100); --check: the first K checked (default 100). The training
#   options default to those of scripts/run.sh (copy task, batch 16, seq 17,
#   lr 0.005, warmup 40); options after -- are added to rotor-run train's
#   and reach the reference through the dumped batches' metadata.
#   --sensitivity: also trains the reference with one setting changed at a
#   time (torch_train.py --set) and reports the first step at which the
#   comparison fails, to show that it would notice such a difference.
# Exit status: compare_losses.py's (0: within tolerance).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=python3 DEVICE=cpu CONFIG=examples/models/train_copy.json ART="" \
  OUT=${ROTOR_BUILD_DIR:-build}/train-vs-torch STEPS=100 CHECK=100 MD="" SENSITIVITY=0
BIN=${ROTOR_BUILD_DIR:-build}/bin
ROTOR_RUN=$BIN/rotor-run
while [ $# -gt 0 ]; do
  case "$1" in
    --python=*) PY=${1#*=} ;;
    --device=*) DEVICE=${1#*=} ;;
    --config=*) CONFIG=${1#*=} ;;
    --artifact=*) ART=${1#*=} ;;
    --out=*) OUT=${1#*=} ;;
    --steps=*) STEPS=${1#*=} ;;
    --check=*) CHECK=${1#*=} ;;
    --markdown=*) MD=${1#*=} ;;
    --sensitivity) SENSITIVITY=1 ;;
    --rotor-run=*) ROTOR_RUN=${1#*=} ;;
    --) shift; break ;;
    *) echo "compare_with_torch.sh: error: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$OUT"
if [ -z "$ART" ]; then
  ART="$OUT/model.rotor"
  python3 scripts/random_weights.py "$CONFIG" "$OUT/init.safetensors" --std=0.02 --seed=1
  target=cpu; [ "$DEVICE" = cuda ] && target=cuda
  "$BIN/rotorc" "$CONFIG" --train --weights "$OUT/init.safetensors" --dtype=f32 \
    --target=$target -q -o "$ART"
fi
echo "== rotor-run train --device=$DEVICE"
"$ROTOR_RUN" train "$ART" --device="$DEVICE" --task=copy --steps="$STEPS" \
  --batch=16 --seq=17 --lr=0.005 --warmup=40 --quiet "$@" \
  --log "$OUT/rotor.jsonl" --dump-batches "$OUT/batches.safetensors"
echo "== PyTorch reference (torch_train.py --device=$DEVICE)"
"$PY" bench/train/torch_train.py --config "$CONFIG" --device "$DEVICE" \
  --weights "$ART/weights.safetensors" --batches "$OUT/batches.safetensors" \
  --log "$OUT/torch.jsonl"
echo "== comparison"
torch_version=$("$PY" -c 'import torch, transformers; print(f"torch {torch.__version__}, transformers {transformers.__version__}")')
# The GPU's name from torch (the device machine has no nvidia-smi); under
# set -e a failing probe must not end the script.
gpu=""
if [ "$DEVICE" = cuda ]; then
  gpu=", $("$PY" -c 'import torch; print(torch.cuda.get_device_name())' 2>/dev/null || echo "GPU")"
fi
notes=(--note "Machine: $(uname -m), $(nproc) cores$gpu; $torch_version; device $DEVICE; $(date -u '+%Y-%m-%d %H:%M UTC')."
       --note "Command: \`bench/train/compare_with_torch.sh --device=$DEVICE --config=$CONFIG --steps=$STEPS --check=$CHECK$( [ "$SENSITIVITY" = 1 ] && echo " --sensitivity" || true)${*:+ -- $*}\` (rotor-run train --task=copy --batch=16 --seq=17 --lr=0.005 --warmup=40 --steps=$STEPS; AdamW defaults, clip 1; float32 on both sides, TF32 off).")
status=0
python3 bench/train/compare_losses.py "$OUT/rotor.jsonl" "$OUT/torch.jsonl" \
  --steps="$CHECK" ${MD:+--markdown "$MD"} "${notes[@]}" || status=$?
if [ "$SENSITIVITY" = 1 ]; then
  echo "== sensitivity: the reference with one setting changed"
  table=$(printf '\n## Sensitivity\n\nThe reference trained with one setting changed (torch_train.py --set), against the same Rotor run: the first step at which the comparison fails.\n\n| setting changed | first failing step (of %s) | its message |\n|---|---:|---|' "$CHECK")
  for change in warmup=41 clip=0.9 beta2=0.998 eps=1e-7 weight-decay=0 \
                decay-all=true; do
    "$PY" bench/train/torch_train.py --config "$CONFIG" --device "$DEVICE" \
      --weights "$ART/weights.safetensors" --batches "$OUT/batches.safetensors" \
      --log "$OUT/torch-$change.jsonl" --set "$change" >/dev/null
    first=$(python3 bench/train/compare_losses.py "$OUT/rotor.jsonl" \
      "$OUT/torch-$change.jsonl" --steps="$CHECK" 2>&1 >/dev/null |
      grep -m1 '^compare_losses: step' | sed 's/^compare_losses: //' || true)
    echo "$change: ${first:-no failure}"
    step=$(echo "$first" | sed -n 's/^step \([0-9]*\):.*/\1/p')
    table+=$'\n'"| $change | ${step:-none} | ${first:-} |"
  done
  if [ -n "$MD" ]; then printf '%s\n' "$table" >> "$MD"; fi
fi
exit $status

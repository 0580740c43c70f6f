#!/usr/bin/env bash
# On-device fine-tuning scenario: a digits model meets shifted images on the device, fine-tunes
# its float head on the device (int8 frozen feature extractor), reboots from the stored weight
# bank, and recovers accuracy. Runs on an emulated STM32F405 (host gcc if QEMU is missing).
# Usage: examples/finetune_shifted.sh VENV_BIN OUT_DIR
set -euo pipefail
BIN=${1:-.venv/bin}
OUT=${2:-out/demo}
ET="$BIN/edgetrain"
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. train a 64-32-10 MLP on digits (host)"
[ -f "$OUT/digits_mlp.etm" ] || "$ET" train examples/digits_mlp.toml -o "$OUT/digits_mlp.etm"
"$ET" eval "$OUT/digits_mlp.etm" --data digits:test

step "2. the device's images are shifted by one column: the host model handles them badly"
"$BIN/python" examples/finetune_shifted_data.py "$OUT/digits_mlp.etm" "$OUT"
"$ET" eval "$OUT/digits_mlp.etm" --data "$OUT/shifted_test.npz"

step "3. fine-tune the head on the device (int8 body, float head), commit, reboot from the bank, evaluate"
"$ET" finetune "$OUT/digits_mlp.etm" --target stm32f405 --fallback-host \
    --data "$OUT/shifted_train.npz" --eval-data "$OUT/shifted_test.npz" \
    --trainable last:1 --body int8 --calib digits:train \
    --optimizer adam --lr 0.01 --batch 8 --steps 300 \
    -o "$OUT/digits_mlp_shifted.etm"

# The head was tuned on the int8 body's features (shifted pixels saturate the int8 input range
# calibrated on clean digits), so the float model on the host scores lower than the device does.
step "4. the updated model (weights read back from the stored bank), in float on the host"
"$ET" eval "$OUT/digits_mlp_shifted.etm" --data "$OUT/shifted_test.npz"

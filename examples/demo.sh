#!/usr/bin/env bash
# The main job end to end: train with techniques -> ONNX -> C -> emulated STM32 (or host gcc).
# Usage: examples/demo.sh VENV_BIN OUT_DIR   (make demo passes both)
set -euo pipefail
BIN=${1:-.venv/bin}
OUT=${2:-out/demo}
ET="$BIN/edgetrain"
mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. train a 64-32-10 MLP on digits"
"$ET" train examples/digits_mlp.toml -o "$OUT/digits_mlp.etm"
"$ET" info "$OUT/digits_mlp.etm"
"$ET" eval "$OUT/digits_mlp.etm" --data digits:test

step "1b. train with an edge technique: SET sparse 64-512-512-10 (~3.5 % of the weights)"
"$ET" train examples/digits_set.toml -o "$OUT/digits_set.etm"
"$ET" info "$OUT/digits_set.etm"
"$ET" emulate "$OUT/digits_set.etm" --target stm32f405 --dtype int8 --data digits:test --fallback-host --sparse-format fast
"$ET" emulate "$OUT/digits_set.etm" --target stm32f405 --dtype f32 --data digits:test --limit 100 --fallback-host \
    --sparse-format fast --production

step "2. export ONNX (inference + training-step graph) and check it in onnxruntime"
"$ET" export onnx "$OUT/digits_mlp.etm" -o "$OUT/onnx" --train-step

step "3. int8 C export for the STM32F405 (memory report checked against its budget)"
"$ET" export c "$OUT/digits_mlp.etm" --target stm32f405 --dtype int8 -o "$OUT/c_stm32f405"

step "4. run the firmware on an emulated STM32F405 (host gcc if QEMU or the cross compiler is missing)"
"$ET" emulate "$OUT/digits_mlp.etm" --target stm32f405 --dtype int8 --data digits:test --fallback-host

step "5. a CNN: conv 3x3 16 -> max pool -> conv 3x3 32 -> dense 10 on the 8x8 digits, int8 on the emulated STM32F405"
"$ET" train examples/digits_cnn.toml -o "$OUT/digits_cnn.etm"
"$ET" info "$OUT/digits_cnn.etm"
"$ET" export c "$OUT/digits_cnn.etm" --target stm32f405 --dtype int8 -o "$OUT/c_cnn_stm32f405"
"$ET" emulate "$OUT/digits_cnn.etm" --target stm32f405 --dtype int8 --data digits:test --fallback-host

step "6. on-device learning: fine-tune on shifted data inside the emulated STM32, reboot, evaluate"
bash examples/finetune_shifted.sh "$BIN" "$OUT"

step "7. the CNN adapts too: its float head trains on the shifted digits over its int8 conv body, on the device"
"$ET" finetune "$OUT/digits_cnn.etm" --target stm32f405 --fallback-host \
    --data "$OUT/shifted_train.npz" --eval-data "$OUT/shifted_test.npz" \
    --trainable head --body int8 --calib digits:train --optimizer sgd --lr 0.02 --batch-size 8 --steps 300 \
    -o "$OUT/digits_cnn_shifted.etm"

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

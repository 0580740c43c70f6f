#!/usr/bin/env bash
# `make wheel-smoke`: build the wheel, install it (with the onnx extra) into a fresh venv in a temp
# directory outside the checkout, and run the README's first CLI flow there: train, info, eval,
# export c, emulate (QEMU when the ARM toolchain is here, else the host; CI requires QEMU), export
# onnx. Nothing but the wheel leaves the checkout: the config is written here (the example
# configs are repository files, not package data), so the installed package alone must find its C
# runtime and board files (edgetrain/_firmware, edgetrain/_targets, copied into the wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
py=${PY:-}
if [ -z "$py" ]; then
  # the onnx extra has wheels for 3.11 and 3.12 (not 3.13): the oldest supported Python
  py=$(command -v python3.11 2>/dev/null || true)
  [ -n "$py" ] && "$py" -c '' >/dev/null 2>&1 || py=$(ls "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11.*/bin/python3.11 2>/dev/null | tail -1)
  [ -n "$py" ] || py=python3
fi
work=$(mktemp -d /tmp/edgetrain-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
step() { echo "== wheel-smoke [$((SECONDS - start)) s]: $*"; }

step "build the wheel with $("$py" -V)"
"$py" -m venv "$work/build-venv"
"$work/build-venv/bin/python" -m pip install -q --upgrade pip
"$work/build-venv/bin/python" -m pip wheel -q --no-deps -w "$work/dist" "$checkout"
wheel=$(ls "$work"/dist/edgetrain-*.whl)
echo "$(basename "$wheel"): $(du -k "$wheel" | cut -f1) KiB"

step "the wheel holds the C runtime and the board files as files"
"$work/build-venv/bin/python" - "$wheel" "$checkout" <<'PY'
import subprocess, sys, zipfile
wheel, checkout = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    infos = {i.filename: i for i in z.infolist()}
# every tracked file of firmware_export/ and targets/ is in the wheel, as a regular file
tracked = subprocess.run(["git", "-C", checkout, "ls-files", "firmware_export", "targets"],
                         capture_output=True, text=True, check=True).stdout.split()
assert tracked, "git ls-files found no firmware_export/ or targets/ files"
missing, links = [], []
for f in tracked:
    top, rest = f.split("/", 1)
    name = {"firmware_export": "edgetrain/_firmware/", "targets": "edgetrain/_targets/"}[top] + rest
    if name not in infos:
        missing.append(name)
    elif (infos[name].external_attr >> 16) & 0o170000 == 0o120000:
        links.append(name)
assert not missing, f"not in the wheel: {missing}"
assert not links, f"symlinks in the wheel: {links}"
print(f"{len(tracked)} files of firmware_export/ and targets/ are in the wheel")
PY

step "install the wheel with the onnx extra into a fresh venv in $work"
"$py" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --upgrade pip
"$work/venv/bin/python" -m pip install -q "$wheel[onnx]"
du -sh "$work"/venv/lib/python3*/site-packages | sed 's/^/site-packages: /'
et=$work/venv/bin/edgetrain
mkdir "$work/run"
cd "$work/run"
unset PYTHONPATH
"$work/venv/bin/python" - "$checkout" <<'PY'
import sys
from pathlib import Path
import edgetrain
from edgetrain.resources import firmware_dir, targets_dir
checkout = Path(sys.argv[1]).resolve()
for p in (Path(edgetrain.__file__), firmware_dir(), targets_dir()):
    p = p.resolve()
    assert "site-packages" in p.parts and checkout not in (p, *p.parents), f"{p} is not the installed package"
    print("installed:", p)
PY

# The README's config, examples/digits_mlp.toml, with fewer epochs.
cat > digits_mlp.toml <<'TOML'
name = "digits_mlp"
seed = 0
[data]
source = "digits"
test_size = 0.3
val_size = 0.1
[model]
layers = [ { type = "dense", units = 32, activation = "relu" }, { type = "dense", units = 10 } ]
[train]
epochs = 15
batch_size = 32
loss = "cross_entropy"
[train.optimizer]
name = "adam"
lr = 0.003
TOML

step "edgetrain train digits_mlp.toml -o out/digits.etm"
"$et" train digits_mlp.toml -o out/digits.etm
step "edgetrain info"
"$et" info out/digits.etm
step "edgetrain eval"
"$et" eval out/digits.etm --data digits:test
step "edgetrain targets"
"$et" targets
step "edgetrain export c (int8, stm32f405)"
"$et" export c out/digits.etm --target stm32f405 -o out/c
"$et" export c out/digits.etm -t host --dtype f32 -o out/c32
if command -v qemu-system-arm >/dev/null && command -v arm-none-eabi-gcc >/dev/null; then
  step "edgetrain emulate on QEMU"
  "$et" emulate out/digits.etm --target stm32f405 --dtype int8 --limit 100 --min-accuracy 0.8
  step "edgetrain export c --project make, built from the folder alone and run in QEMU"
  "$et" export c out/digits.etm -t stm32f405 --project make -o out/fw
  make -s -C out/fw run
elif [ -n "${CI:-}" ]; then
  echo "CI must emulate on QEMU but qemu-system-arm or arm-none-eabi-gcc is missing"; exit 1
else
  step "edgetrain emulate on the host (no QEMU or ARM toolchain here)"
  "$et" emulate out/digits.etm -t host --limit 100 --min-accuracy 0.8
fi
step "edgetrain export onnx"
"$et" export onnx out/digits.etm -o out/onnx
ls out/onnx
step "passed"

#!/usr/bin/env bash
# `make test-pythons`: the core tests (tests/core-tests.txt) on every Python edgetrain supports,
# each in its own venv .venv-py3.X with only the core and the test-core extra (pytest, hypothesis):
# no onnx, tflite or report extras, so this is also the check that the core installs and works
# alone. An interpreter is found on PATH (python3.X) or under pyenv; a missing one is skipped with a
# note, and fails in CI (CI set), where all of them must run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHONS=${PYTHONS:-"3.11 3.12 3.13"}
mapfile -t TESTS < <(sed -e 's/#.*//' -e 's/[[:space:]]*$//' tests/core-tests.txt | grep -v '^$')
stamp_key=$(sha256sum pyproject.toml | cut -c1-16)
summary=()
status=0
for v in $PYTHONS; do
  py=$(command -v "python$v" 2>/dev/null || true)
  # a pyenv shim on PATH fails when that version is not installed: ask it
  if [ -n "$py" ] && ! "$py" -c '' >/dev/null 2>&1; then py=; fi
  if [ -z "$py" ]; then
    for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python"$v"; do
      [ -x "$cand" ] && py=$cand
    done
  fi
  if [ -z "$py" ]; then
    if [ -n "${CI:-}" ]; then
      echo "test-pythons: python$v not found, and CI must test it"; status=1; summary+=("python$v: missing"); continue
    fi
    echo "test-pythons: python$v not found, skipped"; summary+=("python$v: skipped (not found)"); continue
  fi
  venv=.venv-py$v
  if [ ! -f "$venv/.stamp-$stamp_key" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e '.[test-core]'
    touch "$venv/.stamp-$stamp_key"
  fi
  versions=$("$venv/bin/python" -c 'import platform, numpy, sklearn; print(f"Python {platform.python_version()}, numpy {numpy.__version__}, scikit-learn {sklearn.__version__}")')
  echo "== python$v ($versions): ${#TESTS[@]} core test files"
  start=$SECONDS
  if "$venv/bin/python" -m pytest -q -p no:cacheprovider "${TESTS[@]}"; then result=passed; else result=FAILED; status=1; fi
  summary+=("python$v: $result in $((SECONDS - start)) s ($versions)")
done
echo "== test-pythons"
printf '%s\n' "${summary[@]}"
exit $status

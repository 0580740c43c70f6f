#!/usr/bin/env bash
# Installs the cross compiler and emulator the firmware tests need (and the browser the HTML report
# test renders in), when missing and when root.
set -eu
missing=()
command -v arm-none-eabi-gcc >/dev/null 2>&1 || missing+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null 2>&1 || missing+=(qemu-system-arm)
# The exported firmware projects are built with make and cmake in the tests.
command -v make >/dev/null 2>&1 || missing+=(make)
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
# The HTML report (edgetrain report) is rendered in headless Chromium in the tests.
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "note: ${missing[*]} missing and not root; firmware tests will skip (install: apt-get install ${missing[*]})"
  exit 0
fi
echo "installing ${missing[*]} from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

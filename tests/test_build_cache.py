"""The object cache the suite's firmware builds share (EDGETRAIN_CC_CACHE, device/cc_cache.py)
gives the same image as a plain build: the loadable bytes are equal, hits and misses alike, and a
flag whose side files land beside the object (-fstack-usage) bypasses the cache."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edgetrain.device import build_firmware
from edgetrain.device.build import CC_CACHE_ENV, cached
from edgetrain.export.c import export_c

from codegen_models import mlp_64_32_10


def image_bytes(elf: Path) -> bytes:
    out = elf.with_suffix(".bin")
    subprocess.run(["arm-none-eabi-objcopy", "-O", "binary", str(elf), str(out)], check=True)
    return out.read_bytes()


def test_cached_builds_give_the_plain_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arm_cc: str) -> None:
    res = export_c(mlp_64_32_10(), "stm32f405", tmp_path / "c", dtype="f32")
    monkeypatch.delenv(CC_CACHE_ENV, raising=False)
    plain = image_bytes(build_firmware("stm32f405", res.out_dir, tmp_path / "plain").path)
    monkeypatch.setenv(CC_CACHE_ENV, str(tmp_path / "cache"))
    first = image_bytes(build_firmware("stm32f405", res.out_dir, tmp_path / "miss").path)
    objects = sorted((tmp_path / "cache").glob("*.o"))
    second = image_bytes(build_firmware("stm32f405", res.out_dir, tmp_path / "hit").path)
    assert plain == first == second and len(objects) >= 4
    assert sorted((tmp_path / "cache").glob("*.o")) == objects  # the second build compiled nothing new


def test_what_the_cache_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cmd = ["gcc", "-O2", "a.c", "-o", "a"]
    monkeypatch.delenv(CC_CACHE_ENV, raising=False)
    assert cached(cmd) == cmd
    monkeypatch.setenv(CC_CACHE_ENV, str(tmp_path / "c"))
    assert cached(cmd)[-len(cmd):] == cmd and cached(cmd)[3].endswith("cc_cache.py")
    assert cached(["no-such-gcc", "a.c", "-o", "a"]) == ["no-such-gcc", "a.c", "-o", "a"]  # reported as missing

    from edgetrain.device.cc_cache import split_command

    assert split_command(["gcc", "-fstack-usage", "a.c", "-o", "a"]) is None
    assert split_command(["arm-none-eabi-gcc", "--specs=nano.specs", "a.c", "-o", "a"]) is not None

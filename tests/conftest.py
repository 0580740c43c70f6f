"""Shared test fixtures.

Tools for firmware tests (gcc, arm-none-eabi-gcc, qemu-system-arm) may be missing on a developer's
machine: those tests then skip with the reason. In CI (``CI`` set) a missing tool is a failure,
because CI installs them through ``make test``.
"""
from __future__ import annotations

import os
import shutil

import pytest

TOOL_PACKAGES = {
    "gcc": "gcc",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
    "cmake": "cmake",
}


def require_tool(name: str) -> str:
    """Return the tool's path; skip (or fail in CI) when it is missing."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} not found (Debian package: {TOOL_PACKAGES.get(name, name)})"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run firmware tests but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def shared_object_cache(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """The suite's firmware builds (and the CLI commands it runs) share one cache of compiled
    objects (edgetrain/device/cc_cache.py): the same images, without compiling the same runtime
    sources hundreds of times. A value set before the run wins (an empty one: no cache)."""
    from edgetrain.device.build import CC_CACHE_ENV

    if CC_CACHE_ENV in os.environ:
        yield
        return
    os.environ[CC_CACHE_ENV] = str(tmp_path_factory.mktemp("cc-cache"))
    yield
    os.environ.pop(CC_CACHE_ENV, None)


@pytest.fixture
def host_cc() -> str:
    return require_tool("gcc")


@pytest.fixture
def arm_cc() -> str:
    return require_tool("arm-none-eabi-gcc")


@pytest.fixture
def qemu() -> str:
    return require_tool("qemu-system-arm")

"""Where edgetrain's non-Python files live: the C runtime (``firmware_export/``) and the board
descriptions (``targets/``).

Two layouts must work:

* a checkout (including an editable install): both are top-level directories of the repository,
  next to the ``edgetrain`` package;
* an installed wheel: ``pyproject.toml`` maps them into the package as ``edgetrain/_firmware``
  and ``edgetrain/_targets`` (package data), because a wheel cannot install files outside
  site-packages' package directories in a way we could find again.

The packaged copy wins when present, so an installed wheel never picks up a stray checkout.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_REPO_DIR = _PACKAGE_DIR.parent


def _locate(packaged: str, checkout: str, marker: str) -> Path:
    """Return the first of ``edgetrain/<packaged>`` and ``<repo>/<checkout>`` containing marker."""
    candidates = (_PACKAGE_DIR / packaged, _REPO_DIR / checkout)
    for candidate in candidates:
        if (candidate / marker).exists():
            return candidate
    # Imported here so that a broken install still reports clearly.
    from edgetrain.errors import ConfigError

    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"edgetrain's {checkout}/ directory is missing (looked in {tried})",
        hint="reinstall edgetrain; a wheel must contain edgetrain/_firmware and edgetrain/_targets",
    )


@lru_cache(maxsize=None)
def firmware_dir() -> Path:
    """Directory holding the C runtime: ``include/``, ``src/`` and ``templates/``."""
    return _locate("_firmware", "firmware_export", "templates")


@lru_cache(maxsize=None)
def targets_dir() -> Path:
    """Directory holding ``<name>.toml`` board descriptions, linker scripts and start-up code."""
    return _locate("_targets", "targets", "host.toml")


def harness_dir() -> Path:
    """The emulation harness sources (``main.c`` and its I/O back ends)."""
    return firmware_dir() / "templates" / "emulate"

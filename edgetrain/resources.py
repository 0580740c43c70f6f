"""Where edgetrain's non-Python files live: the C runtime (``firmware_export/``) and the board
descriptions (``targets/``).

Two layouts must work:

* a checkout (including an editable install): both are top-level directories of the repository,
  next to the ``edgetrain`` package;
* an installed wheel: they ship as package data ``edgetrain/_firmware`` and
  ``edgetrain/_targets``. In the repository those two names are symlinks to the top-level
  directories; setuptools' package discovery follows them and ``pyproject.toml`` lists the file
  patterns, so the wheel holds real copies.

The in-package path is tried first (in a checkout it is the symlink, i.e. the same files); the
top-level directories are the fallback for a checkout whose symlinks were not created (e.g. git
on Windows without symlink support).
"""

from __future__ import annotations

from functools import cache
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


@cache
def firmware_dir() -> Path:
    """Directory holding the C runtime: ``include/``, ``src/`` and ``templates/``."""
    return _locate("_firmware", "firmware_export", "templates")


@cache
def targets_dir() -> Path:
    """Directory holding ``<name>.toml`` board descriptions, linker scripts and start-up code."""
    return _locate("_targets", "targets", "host.toml")


def harness_dir() -> Path:
    """The emulation harness sources (``main.c`` and its I/O back ends)."""
    return firmware_dir() / "templates" / "emulate"

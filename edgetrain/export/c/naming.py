"""The name of an exported model in C (`export_c(..., name=...)` / `export c --name`): every
generated symbol, macro and file carries it, so several models link into one firmware.

The default name keeps the files model.h, model.c, ... and the symbols ``et_model_infer``,
``ET_MODEL_INPUT_COUNT``, ``et_model_<layer>_weights``; the build fragments define
``EDGETRAIN_MODEL_SRCS`` and the CMake target ``edgetrain_model``. With ``name="kws"`` they are
kws.h, kws.c, kws_data.h, kws_data.c, kws_input.c, ``kws_infer``, ``KWS_INPUT_COUNT``,
``kws_<layer>_weights``, ``KWS_SRCS`` and ``kws_model``. The runtime (``runtime/``, ``et_*``) is
shared: two models of one edgetrain version ship identical runtime sources, compiled once.

Names are applied to the generated text as a whole-word rename of the default prefixes, so no
renderer needs to know about them.
"""

from __future__ import annotations

import re
from pathlib import Path

from ...errors import ConfigError
from .arrays import RESERVED

DEFAULT = "model"
NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,30}")
#: Generated files that carry the name (the runtime sources do not).
NAMED_FILES = {
    "model.h": "{}.h",
    "model.c": "{}.c",
    "model_data.h": "{}_data.h",
    "model_data.c": "{}_data.c",
    "model_input.c": "{}_input.c",
}


def check_name(name: str | None) -> str:
    """The model's C name (default ``model``), or a ConfigError saying what a name may be."""
    if name is None or name == DEFAULT:
        return DEFAULT
    if not NAME_RE.fullmatch(name) or name in RESERVED or name.startswith("et_") or name.endswith("_"):
        raise ConfigError(
            f"model name {name!r} cannot prefix C symbols",
            hint="use 1-31 lower-case letters, digits or _, starting with a letter, not starting "
            "with et_ (the runtime's) and not a C keyword, e.g. kws",
        )
    return name


def file_name(default: str, name: str) -> str:
    """The file a default-named generated file becomes."""
    return NAMED_FILES[default].format(name) if name != DEFAULT and default in NAMED_FILES else default


def _rename_text(text: str, name: str) -> str:
    up = name.upper()
    text = re.sub(r"\bet_model_", f"{name}_", text)
    text = re.sub(r"\bET_MODEL_", f"{up}_", text)
    text = re.sub(r"\bEDGETRAIN_MODEL_", f"{up}_", text)
    text = re.sub(r"\bedgetrain_model\b", f"{name}_model", text)
    for default, pattern in NAMED_FILES.items():
        text = re.sub(rf"(?<![\w.]){re.escape(default)}\b", pattern.format(name), text)
    return text


def apply_name(files: dict[Path, bytes], name: str) -> dict[Path, bytes]:
    """``files`` (an export) with the model's name on every generated symbol, macro and file."""
    if name == DEFAULT:
        return files
    out: dict[Path, bytes] = {}
    for path, data in files.items():
        if path.parts[0] == "runtime":
            out[path] = data
            continue
        new_path = path.with_name(file_name(path.name, name)) if len(path.parts) == 1 else path
        if path.name == "edgetrain_model.mk":
            new_path = path.with_name(f"{name}_model.mk")
        elif path.name == "edgetrain_model.cmake":
            new_path = path.with_name(f"{name}_model.cmake")
        out[new_path] = _rename_text(data.decode(), name).encode() if path.suffix in TEXT_SUFFIXES else data
    return out


TEXT_SUFFIXES = {".h", ".c", ".mk", ".txt", ".cmake", ".md", ""}

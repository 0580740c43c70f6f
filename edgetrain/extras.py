"""Optional dependency groups: the core install trains, quantizes and exports C; ONNX and TFLite
interop need their extras (``pip install 'edgetrain[onnx]'``, ``'edgetrain[tflite]'``), and the
HTML report (``edgetrain report``) needs matplotlib (``'edgetrain[report]'``)."""

from __future__ import annotations

import importlib.util
import sys

from .errors import ConfigError

#: extra -> the modules it provides
EXTRAS = {"onnx": ("onnx", "onnxruntime"), "tflite": ("tflite", "flatbuffers"), "report": ("matplotlib",)}

#: extra -> (the newest Python it installs on, why): its packages have no wheels for newer ones, so
#: pyproject.toml's environment markers leave it empty there
EXTRA_MAX_PYTHON = {"onnx": ((3, 12), "onnxruntime-training-cpu 1.19.2 has no wheel for newer Pythons")}


def require(extra: str, what: str) -> None:
    """A ConfigError naming the extra to install when one of its modules is missing."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        hint = f"pip install 'edgetrain[{extra}]'"
        if extra in EXTRA_MAX_PYTHON and sys.version_info[:2] > EXTRA_MAX_PYTHON[extra][0]:
            newest, why = EXTRA_MAX_PYTHON[extra]
            hint = f"the {extra} extra installs on Python {newest[0]}.{newest[1]} or older ({why}): {hint} there"
        raise ConfigError(f"{what} needs the {extra} extra ({', '.join(missing)} not installed)", hint=hint)

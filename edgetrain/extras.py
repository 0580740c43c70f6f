"""Optional dependency groups: the core install trains, quantizes and exports C; ONNX and TFLite
interop need their extras (``pip install 'edgetrain[onnx]'``, ``'edgetrain[tflite]'``), and the
HTML report (``edgetrain report``) needs matplotlib (``'edgetrain[report]'``)."""
from __future__ import annotations

import importlib.util

from .errors import ConfigError

#: extra -> the modules it provides
EXTRAS = {"onnx": ("onnx", "onnxruntime"), "tflite": ("tflite", "flatbuffers"), "report": ("matplotlib",)}


def require(extra: str, what: str) -> None:
    """A ConfigError naming the extra to install when one of its modules is missing."""
    missing = [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"{what} needs the {extra} extra ({', '.join(missing)} not installed)",
                          hint=f"pip install 'edgetrain[{extra}]'")

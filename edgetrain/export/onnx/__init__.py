"""Deprecated home of the ONNX exporter and importer: they live in `edgetrain.interop.onnx`.

Names read from here (and from the old submodules) are those of the new home, with a
`DeprecationWarning`.
"""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx")

"""Deprecated: `edgetrain.interop.onnx.check`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.check")

"""Deprecated: `edgetrain.interop.onnx.bundle`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.bundle")

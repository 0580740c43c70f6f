"""Deprecated: `edgetrain.interop.onnx.emitters`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.emitters")

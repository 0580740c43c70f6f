"""Deprecated: `edgetrain.interop.onnx.inference`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.inference")

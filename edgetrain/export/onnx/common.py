"""Deprecated: `edgetrain.interop.onnx.common`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.common")

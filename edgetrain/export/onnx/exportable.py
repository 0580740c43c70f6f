"""Deprecated: `edgetrain.interop.onnx.exportable`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.exportable")

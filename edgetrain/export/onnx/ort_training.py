"""Deprecated: `edgetrain.interop.onnx.ort_training`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.ort_training")

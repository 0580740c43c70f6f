"""Deprecated: `edgetrain.interop.onnx.train_step`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.train_step")

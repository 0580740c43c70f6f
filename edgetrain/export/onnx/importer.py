"""Deprecated: `edgetrain.interop.onnx.importer`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.interop.onnx.importer")

"""Deprecated: `edgetrain.transforms.lowering`."""

from ..deprecation import moved

__getattr__ = moved(__name__, "edgetrain.transforms.lowering")

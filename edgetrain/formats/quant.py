"""Deprecated: the int8 arithmetic lives in `edgetrain.quantize.int8`."""

from ..deprecation import moved

__getattr__ = moved(__name__, "edgetrain.quantize.int8")

"""Deprecated: `edgetrain.transforms.reorder`."""

from ...deprecation import moved

__getattr__ = moved(__name__, "edgetrain.transforms.reorder")

"""Deprecated: `edgetrain.train_run` (training from a config, end to end)."""

from .deprecation import moved

__getattr__ = moved(__name__, "edgetrain.train_run")

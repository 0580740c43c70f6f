"""Moved to `edgetrain.device.run`; this path keeps working with a DeprecationWarning."""

from edgetrain.deprecation import moved

__getattr__ = moved(__name__, "edgetrain.device.run")

"""Moved to `edgetrain.device.build`; this path keeps working with a DeprecationWarning."""

from edgetrain.deprecation import moved

__getattr__ = moved(__name__, "edgetrain.device.build")

"""One error hierarchy for everything a user can get wrong.

Every error carries a one-line message and an optional hint; the CLI prints both and exits with 2.
"""
from __future__ import annotations


class EdgetrainError(Exception):
    """Base of every error edgetrain raises on purpose."""

    default_hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class InvalidModelError(EdgetrainError):
    """The graph is malformed: dangling inputs, shape mismatches, duplicate names."""


class UnsupportedOpError(InvalidModelError):
    """An op kind edgetrain (or the chosen backend) does not implement."""


class ConfigError(EdgetrainError):
    """A TOML config or a command-line option is wrong."""


class DataError(EdgetrainError):
    """Training or evaluation data is malformed (NaN, bad labels, wrong width...)."""


class ModelFileError(EdgetrainError):
    """A saved model file is corrupt, truncated or from an unknown format version."""


class BudgetExceededError(EdgetrainError):
    """The model does not fit the target's flash or RAM."""


class ToolchainError(EdgetrainError):
    """A compiler or emulator edgetrain needs is missing or failed."""


class ExportError(EdgetrainError):
    """An exporter (ONNX, C, TFLite) cannot represent the model."""

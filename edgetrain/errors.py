"""One error hierarchy for everything a user can get wrong.

Every error carries a one-line message and an optional hint; the CLI prints both and exits with
the error's ``exit_code``, so a script or CI job can tell them apart:

* 2: the input is wrong (data, config, options, model files, an unsupported op): the default;
* 3: a check the command was asked to enforce failed (`CheckFailedError`, ``emulate --min-accuracy``);
* 4: the model does not fit the target's flash or RAM (`BudgetExceededError`);
* 5: a compiler or emulator is missing or failed (`ToolchainError`).
"""

from __future__ import annotations


class EdgetrainError(Exception):
    """Base of every error edgetrain raises on purpose."""

    default_hint: str = ""
    exit_code: int = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class InvalidModelError(EdgetrainError):
    """The graph is malformed: dangling inputs, shape mismatches, duplicate names."""

    default_hint = "check the model definition (edgetrain info MODEL shows its layers)"


class UnsupportedOpError(InvalidModelError):
    """An op kind edgetrain (or the chosen backend) does not implement."""

    default_hint = "see the Supported table in the README for what each backend handles"


class ConfigError(EdgetrainError):
    """A TOML config or a command-line option is wrong."""

    default_hint = "see edgetrain COMMAND --help; the README section 'Config files' lists the TOML keys"


class DataError(EdgetrainError):
    """Training or evaluation data is malformed (NaN, bad labels, wrong width...)."""

    default_hint = (
        "data files are .npz (arrays x and y, or x_train, y_train, x_test, y_test) or .csv (numeric "
        "features and a label column of class ids or names, the last by default)"
    )


class ModelFileError(EdgetrainError):
    """A saved model file is corrupt, truncated or from an unknown format version."""

    default_hint = "re-create the file with edgetrain train or edgetrain import; do not edit .etm files by hand"


class BudgetExceededError(EdgetrainError):
    """The model does not fit the target's flash or RAM."""

    exit_code = 4
    default_hint = "make the model smaller (fewer units, sparsity, int8) or choose a larger target"


class ToolchainError(EdgetrainError):
    """A compiler or emulator edgetrain needs is missing or failed."""

    exit_code = 5
    default_hint = "run make install toolchain (as root) to install the ARM compiler and QEMU"


class ExportError(EdgetrainError):
    """An exporter (ONNX, C, TFLite) cannot represent the model."""

    default_hint = "see the Supported table in the README for what each exporter handles"


class CheckFailedError(EdgetrainError):
    """A result check the command was asked to enforce failed (the run itself worked)."""

    default_hint = "the report above shows the measured figures"
    exit_code = 3

"""Size limits on everything a user hands edgetrain, checked before anything is allocated.

Each limit is a named default that guards against a hostile or mistaken input (a data file whose
header claims 10^12 elements, a TOML asking for 2*10^9 units, ``epochs = 1e12``) turning into an
out-of-memory kill or a run that never ends. A real job that needs more raises the limit with the
environment variable ``EDGETRAIN_LIMIT_<NAME>`` (for example ``EDGETRAIN_LIMIT_MAX_DATA_ELEMENTS``);
the error message that refuses an input names the variable.
"""

from __future__ import annotations

import os

from .errors import ConfigError

#: Elements in one data array (features or labels) read from a file or passed to a command.
MAX_DATA_ELEMENTS = 200_000_000
#: Bytes of one file edgetrain reads whole (data files, model files, ONNX models), and of one
#: decompressed member of a zip archive (.npz, .etm).
MAX_FILE_BYTES = 2 * 1024**3
#: Units of one layer and features of one model input.
MAX_UNITS = 1_000_000
#: Parameters of one model (weights and biases over all layers).
MAX_PARAMETERS = 200_000_000
#: Layers of one model.
MAX_LAYERS = 10_000
#: Training epochs (host) and fine-tuning / training steps (device, ONNX Runtime).
MAX_EPOCHS = 1_000_000
MAX_STEPS = 100_000_000
#: Samples in one mini-batch.
MAX_BATCH = 1_000_000

_DEFAULTS = {name: value for name, value in globals().items() if name.startswith("MAX_")}


def env_name(name: str) -> str:
    """The environment variable that raises limit ``name``."""
    return f"EDGETRAIN_LIMIT_{name}"


def limit(name: str) -> int:
    """The limit ``name`` (one of the ``MAX_*`` constants), raised by its environment variable if set."""
    if name not in _DEFAULTS:
        raise KeyError(name)
    raw = os.environ.get(env_name(name))
    if raw is None or raw == "":
        return int(_DEFAULTS[name])
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"{env_name(name)}={raw!r} is not an integer",
            hint=f"unset it or give a whole number (default {_DEFAULTS[name]})",
        ) from None
    if value <= 0:
        raise ConfigError(
            f"{env_name(name)}={raw!r} must be positive",
            hint=f"unset it or give a whole number (default {_DEFAULTS[name]})",
        )
    return value


def over_limit_hint(name: str) -> str:
    """The hint of an error that refuses an input for exceeding limit ``name``."""
    return f"if this size is intended, raise the limit: export {env_name(name)}=<larger value>"

"""Option types that check ranges while the command line is parsed, before anything is allocated.

A step count of 1e11 or a batch of 10^7 samples is refused here, with the flag's name, instead of
exhausting memory later; NaN and infinity never reach an optimizer.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import click

from .. import limits

# What the click.Choice options of the commands pass, as the library functions' Literal types.
DtypeChoice = Literal["int8", "f32"]
OptimizerChoice = Literal["sgd", "adam"]
MethodChoice = Literal["minmax", "percentile"]
ProjectChoice = Literal["make", "cmake"]


class Count(click.ParamType):
    """A whole number from ``minimum`` up to the named limit of `edgetrain.limits` (read when the
    option is parsed, so ``EDGETRAIN_LIMIT_<NAME>`` raises it)."""

    name = "integer"

    def __init__(self, limit_name: str | None = None, minimum: int = 1) -> None:
        self.limit_name = limit_name
        self.minimum = minimum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """The option's value as an int; a usage error naming the option for text that is not a
        base-10 whole number, a number below ``minimum`` or one above the limit."""
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            try:
                number = int(str(value), 10)
            except ValueError:
                self.fail(f"{value!r} is not a whole number", param, ctx)
        if number < self.minimum:
            self.fail(f"{number} is below the minimum {self.minimum}", param, ctx)
        if self.limit_name is not None:
            top = limits.limit(self.limit_name)
            if number > top:
                self.fail(
                    f"{number} is above the limit {top} (raise it with {limits.env_name(self.limit_name)})", param, ctx
                )
        return number


class Real(click.ParamType):
    """A finite float in a range; ``low_open`` / ``high_open`` exclude the ends."""

    name = "number"

    def __init__(
        self, low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
    ) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def describe(self) -> str:
        """The accepted range in words, for error messages (e.g. "a finite number in [0, 1)")."""
        if self.low is not None and self.high is not None:
            return (
                f"a finite number in {'(' if self.low_open else '['}{self.low:g}, "
                f"{self.high:g}{')' if self.high_open else ']'}"
            )
        if self.low is not None:
            return f"a finite number {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"a finite number {'<' if self.high_open else '<='} {self.high:g}"
        return "a finite number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """The option's value as a float; a usage error naming the option for a non-number, NaN,
        infinity or a value outside the range."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        bad = not math.isfinite(number)
        if self.low is not None:
            bad |= number <= self.low if self.low_open else number < self.low
        if self.high is not None:
            bad |= number >= self.high if self.high_open else number > self.high
        if bad:
            self.fail(f"{value} is not {self.describe()}", param, ctx)
        return number


#: Learning rates, epsilons: positive. Decay: zero or more. Momentum and Adam betas: [0, 1).
POSITIVE = Real(0.0, low_open=True)
NON_NEGATIVE = Real(0.0)
FRACTION = Real(0.0, 1.0, high_open=True)
PERCENTILE = Real(0.0, 100.0, low_open=True)
STEPS = Count("MAX_STEPS")
EPOCHS = Count("MAX_EPOCHS")
BATCH = Count("MAX_BATCH")
SAMPLES = Count("MAX_DATA_ELEMENTS")
SEED = Count(minimum=0)
#: emulate's gates: an accuracy as a fraction in [0, 1]; a disagreement count from 0.
ACCURACY = Real(0.0, 1.0)
DISAGREEMENTS = Count(minimum=0)
#: --flash / --ram: a memory size in bytes.
BYTES = Count(minimum=1)


# ---------------------------------------------------------------- on-device training options
#: What trains on the device (`finetune --trainable`, `export c --train`): the vocabulary of
#: `parse_trainable` and `train_modes.select_trainable`.
def dtype_option(help_text: str) -> Any:
    """``--dtype int8|f32`` for a command that targets a device: one definition, so int8 is the
    default of every such command (`export c`, `emulate`, `export tflite`, `report`)."""
    return click.option(
        "--dtype", type=click.Choice(["int8", "f32"]), default="int8", show_default=True, help=help_text
    )


TRAINABLE_HELP = (
    "What trains: head (the layers after the last conv/pool), last-block (the last conv layer "
    "and after), bias-only (every bias, TinyTL), last:K, all, or layer names separated by commas. "
    "batch_norm is folded into the layer before it first."
)


def parse_trainable(spec: str) -> str | list[str]:
    """head | last-block | bias-only | last:K | all | comma-separated layer names."""
    if spec in ("all", "bias-only", "head", "last-block") or spec.startswith("last:"):
        return spec
    return [s.strip() for s in spec.split(",") if s.strip()]


#: The options of the generated training code, in order: `device_training_options`.
DEVICE_TRAINING_OPTIONS = (
    click.option("--optimizer", type=click.Choice(["sgd", "adam"]), default="sgd", show_default=True),
    click.option("--lr", type=POSITIVE, default=0.01, show_default=True),
    click.option("--momentum", type=FRACTION, default=0.0, show_default=True, help="SGD momentum."),
    click.option("--weight-decay", type=NON_NEGATIVE, default=0.0, show_default=True),
    click.option(
        "--batch-size",
        "--batch",
        "batch",
        type=BATCH,
        default=1,
        show_default=True,
        help="Samples per training step (--batch is the same option).",
    ),
    click.option(
        "--body",
        type=click.Choice(["int8", "f32"]),
        default="f32",
        show_default=True,
        help="How the frozen layers before the trainable ones run.",
    ),
)


def device_training_options(command: Any) -> Any:
    """Add the options of the generated on-device training code (optimizer, lr, momentum,
    weight decay, batch, body) to a click command: `finetune` and `export c --train` share
    them, so their names, defaults and help cannot drift apart."""
    for option in reversed(DEVICE_TRAINING_OPTIONS):
        command = option(command)
    return command

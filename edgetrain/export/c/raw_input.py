"""The input and output helpers of an exported model (model_input.c): ``et_model_input_from_raw``
(raw sensor values to the model input), ``et_model_argmax`` (the class of an output) and, for a
model with class names, ``et_model_class_names``. The training library gets the same helpers under
its own names (`TRAIN`: ``et_train_input_from_raw`` into its input type, ``et_train_argmax`` of
the float logits ``et_train_infer`` writes, ``et_train_class_names``; train_model_input.c).

A model is trained on standardised features, ``(raw - mean) / std`` with the training split's
statistics (``graph.meta["preprocess"]``), and an int8 model also takes them quantized. The C
function does both on the device, so a caller hands it raw sensor values:

    et_model_input_from_raw(raw, input);   /* float raw[ET_MODEL_INPUT_COUNT] */
    et_model_infer(input, output);

Contract (bit for bit what `edgetrain.data.apply_preprocess` and, for int8,
`QuantizedModel.quantize_input` compute in numpy, for float32 raw values):

* ``v = (raw[i] - mean[i]) / std[i]`` in float32 arithmetic (one subtraction, one division, each
  rounded to float32; no multiply-add to contract), as `apply_preprocess` computes;
* int8: ``q = clamp(round_half_even((double)v / ET_MODEL_INPUT_SCALE) + ET_MODEL_INPUT_ZERO_POINT,
  -128, 127)``; a non-finite ``v`` returns ET_ERR_NON_FINITE (it has no int8 value) and leaves
  the rest of ``input`` unspecified;
* float: ``v`` is stored as is; ``et_model_infer`` refuses NaN and +-inf itself.

A model without stored statistics (e.g. imported) gets the identity (mean 0, std 1 are not
stored: the function only converts or quantizes). The statistics are const arrays in flash,
counted in the memory report; a firmware that never calls the function drops them at link time
(the builds use --gc-sections).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .arrays import DataArray


@dataclass(frozen=True)
class HelperNames:
    """What one generated API calls its helpers and the macros they read."""

    prefix: str  # et_model / et_train: et_model_input_from_raw, et_model_argmax, ...
    macro: str  # ET_MODEL / ET_TRAIN: ET_MODEL_INPUT_COUNT, ET_MODEL_INPUT_SCALE, ...
    headers: tuple[str, ...]  # what the helpers' source includes
    output_count: str  # the macro counting one output's values
    n_classes: str  # the class count macro (defined with the class names when not there already)
    output_ctype: str | None = None  # the output's element type; None: the input's (float or int8_t)

    @property
    def function(self) -> str:
        """The name of the raw-input function, ``<prefix>_input_from_raw``."""
        return f"{self.prefix}_input_from_raw"

    @property
    def declaration(self) -> str:
        """The C prototype of the raw-input function, for the API's header."""
        return f"et_status {self.function}(const float *raw, void *input);"

    @property
    def argmax_declaration(self) -> str:
        """The C prototype of ``<prefix>_argmax``, for the API's header."""
        return f"int32_t {self.prefix}_argmax(const void *output);"

    @property
    def class_names(self) -> str:
        """The name of the class-name array, ``<prefix>_class_names``."""
        return f"{self.prefix}_class_names"

    @property
    def mean(self) -> str:
        """The name of the const array holding the input means."""
        return f"{self.prefix}_input_mean"

    @property
    def std(self) -> str:
        """The name of the const array holding the input standard deviations."""
        return f"{self.prefix}_input_std"


MODEL = HelperNames("et_model", "ET_MODEL", ("model.h", "model_data.h"), "ET_MODEL_OUTPUT_COUNT", "ET_MODEL_N_CLASSES")
TRAIN = HelperNames(
    "et_train",
    "ET_TRAIN",
    ("train_model.h", "train_model_data.h"),
    "ET_TRAIN_N_CLASSES",
    "ET_TRAIN_N_CLASSES",
    output_ctype="float",
)
FUNCTION = MODEL.function
DECLARATION = MODEL.declaration
ARGMAX_DECLARATION = MODEL.argmax_declaration
CLASS_NAMES = MODEL.class_names


def c_string(text: str) -> str:
    """A C string literal of ``text`` (UTF-8): printable ASCII as is, every other byte, quote,
    backslash and ``?`` (trigraphs) as a three-digit octal escape (no following digit can extend it)."""
    out = []
    for b in str(text).encode("utf-8"):
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def header_lines(int8: bool, class_names: list[str] | None, names: HelperNames = MODEL) -> list[str]:
    """The API header's declarations of the output helpers."""
    lines = [
        "/* The class of an output: the index of its largest value (the first on a tie). */",
        names.argmax_declaration,
    ]
    if class_names:
        if names.n_classes != names.output_count:  # ET_TRAIN_N_CLASSES is defined already
            lines.append(f"#define {names.n_classes} {len(class_names)}")
        lines += [
            "/* The class names the model was trained with, by class index (UTF-8). */",
            f"extern const char *const {names.class_names}[{names.n_classes}];",
        ]
    return lines


MEAN, STD = MODEL.mean, MODEL.std


def standardisation(meta: dict[str, Any], n_values: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(mean, std) float32 of a model's stored input standardisation, or None without one.
    The model file checks guarantee finite values, std > 0 and one per input value."""
    pre = meta.get("preprocess") or {}
    if "mean" not in pre or "std" not in pre:
        return None
    mean = np.asarray(pre["mean"], np.float32).reshape(-1)
    std = np.asarray(pre["std"], np.float32).reshape(-1)
    if mean.size != n_values or std.size != n_values:
        return None  # a stale statistic of another input size: nothing exact to apply
    return mean, std


def arrays(stats: tuple[np.ndarray, np.ndarray] | None, names: HelperNames = MODEL) -> list[DataArray]:
    """The statistics as const arrays (none without them)."""
    if stats is None:
        return []
    return [DataArray(names.mean, stats[0], "(input)", "mean"), DataArray(names.std, stats[1], "(input)", "std")]


def flash_bytes(stats: tuple[np.ndarray, np.ndarray] | None) -> int:
    """Flash bytes of the statistics' arrays."""
    return sum(a.nbytes for a in arrays(stats))


def render(header: str, int8: bool, stats: tuple[np.ndarray, np.ndarray] | None, names: HelperNames = MODEL) -> str:
    """The input helper's source for a float or an int8 input (model_input.c, train_model_input.c)."""
    lines = [
        header,
        "#include <float.h>",
        "#include <stddef.h>",
        "#include <stdint.h>",
        "",
        *(f'#include "{h}"' for h in names.headers),
        "",
    ]
    lines += [a.definition() for a in arrays(stats, names)]
    if int8:
        lines += [
            "",
            "/* Round half to even, for |v| <= 1024 (callers clamp first): v - trunc(v) is exact there. */",
            "static int32_t et_round_half_even(double v)",
            "{",
            "    int32_t t = (int32_t)v; /* toward zero */",
            "    const double frac = v - (double)t;",
            "    if (frac > 0.5 || (frac == 0.5 && t % 2 != 0)) {",
            "        ++t;",
            "    } else if (frac < -0.5 || (frac == -0.5 && t % 2 != 0)) {",
            "        --t;",
            "    }",
            "    return t;",
            "}",
        ]
    t = "int8_t" if int8 else "float"
    m = names.macro
    lines += [
        "",
        names.declaration.replace(";", ""),
        "{",
        f"    {t} *x = ({t} *)input;",
        "    int32_t i;",
        "    if (raw == NULL || input == NULL) {",
        "        return ET_ERR_NULL_ARG;",
        "    }",
        f"    for (i = 0; i < {m}_INPUT_COUNT; ++i) {{",
    ]
    if stats is not None:
        lines.append(f"        const float v = (raw[i] - {names.mean}[i]) / {names.std}[i];")
    else:
        lines.append("        const float v = raw[i];")
    if int8:
        lines += [
            "        double s;",
            "        int32_t q;",
            "        if (!(v >= -FLT_MAX && v <= FLT_MAX)) {",
            "            return ET_ERR_NON_FINITE;",
            "        }",
            f"        s = (double)v / {m}_INPUT_SCALE;",
            "        s = s > 1024.0 ? 1024.0 : (s < -1024.0 ? -1024.0 : s);",
            f"        q = et_round_half_even(s) + {m}_INPUT_ZERO_POINT;",
            "        x[i] = (int8_t)(q > 127 ? 127 : (q < -128 ? -128 : q));",
        ]
    else:
        lines.append("        x[i] = v;")
    lines += ["    }", "    return ET_OK;", "}", ""]
    return "\n".join(lines)


def render_output_helpers(int8: bool, class_names: list[str] | None, names: HelperNames = MODEL) -> str:
    """The definitions of `header_lines`' declarations (appended to the input helper's source)."""
    t = names.output_ctype or ("int8_t" if int8 else "float")
    lines = [
        names.argmax_declaration.replace(";", ""),
        "{",
        f"    const {t} *y = (const {t} *)output;",
        "    int32_t best = 0;",
        "    int32_t i;",
        f"    for (i = 1; i < {names.output_count}; ++i) {{",
        "        if (y[i] > y[best]) {",
        "            best = i;",
        "        }",
        "    }",
        "    return best;",
        "}",
        "",
    ]
    if class_names:
        listed = ", ".join(c_string(n) for n in class_names)
        lines += [f"const char *const {names.class_names}[{names.n_classes}] = {{{listed}}};", ""]
    return "\n".join(lines)

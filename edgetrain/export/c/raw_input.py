"""The input and output helpers of an exported model (model_input.c): ``et_model_input_from_raw``
(raw sensor values to the model input), ``et_model_argmax`` (the class of an output) and, for a
model with class names, ``et_model_class_names``.

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

from typing import Any

import numpy as np

from .arrays import DataArray

FUNCTION = "et_model_input_from_raw"
DECLARATION = f"et_status {FUNCTION}(const float *raw, void *input);"
ARGMAX_DECLARATION = "int32_t et_model_argmax(const void *output);"
CLASS_NAMES = "et_model_class_names"


def c_string(text: str) -> str:
    """A C string literal of ``text`` (UTF-8): printable ASCII as is, every other byte, quote,
    backslash and ``?`` (trigraphs) as a three-digit octal escape (no following digit can extend it)."""
    out = []
    for b in str(text).encode("utf-8"):
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def header_lines(int8: bool, class_names: list[str] | None) -> list[str]:
    """model.h's declarations of the output helpers."""
    lines = ["/* The class of an output: the index of its largest value (the first on a tie). */", ARGMAX_DECLARATION]
    if class_names:
        lines += [f"#define ET_MODEL_N_CLASSES {len(class_names)}",
                  "/* The class names the model was trained with, by class index (UTF-8). */",
                  f"extern const char *const {CLASS_NAMES}[ET_MODEL_N_CLASSES];"]
    return lines
MEAN, STD = "et_model_input_mean", "et_model_input_std"


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


def arrays(stats: tuple[np.ndarray, np.ndarray] | None) -> list[DataArray]:
    if stats is None:
        return []
    return [DataArray(MEAN, stats[0], "(input)", "mean"), DataArray(STD, stats[1], "(input)", "std")]


def flash_bytes(stats: tuple[np.ndarray, np.ndarray] | None) -> int:
    return sum(a.nbytes for a in arrays(stats))


def render(header: str, int8: bool, stats: tuple[np.ndarray, np.ndarray] | None) -> str:
    """model_input.c for a float or an int8 model."""
    lines = [header, "#include <float.h>", "#include <stddef.h>", "#include <stdint.h>", "",
             '#include "model.h"', '#include "model_data.h"', ""]
    lines += [a.definition() for a in arrays(stats)]
    if int8:
        lines += ["",
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
                  "}"]
    t = "int8_t" if int8 else "float"
    lines += ["", DECLARATION.replace(";", ""), "{",
              f"    {t} *x = ({t} *)input;", "    int32_t i;",
              "    if (raw == NULL || input == NULL) {", "        return ET_ERR_NULL_ARG;", "    }",
              "    for (i = 0; i < ET_MODEL_INPUT_COUNT; ++i) {"]
    if stats is not None:
        lines.append(f"        const float v = (raw[i] - {MEAN}[i]) / {STD}[i];")
    else:
        lines.append("        const float v = raw[i];")
    if int8:
        lines += ["        double s;", "        int32_t q;",
                  "        if (!(v >= -FLT_MAX && v <= FLT_MAX)) {", "            return ET_ERR_NON_FINITE;", "        }",
                  "        s = (double)v / ET_MODEL_INPUT_SCALE;",
                  "        s = s > 1024.0 ? 1024.0 : (s < -1024.0 ? -1024.0 : s);",
                  "        q = et_round_half_even(s) + ET_MODEL_INPUT_ZERO_POINT;",
                  "        x[i] = (int8_t)(q > 127 ? 127 : (q < -128 ? -128 : q));"]
    else:
        lines.append("        x[i] = v;")
    lines += ["    }", "    return ET_OK;", "}", ""]
    return "\n".join(lines)


def render_output_helpers(int8: bool, class_names: list[str] | None) -> str:
    """The definitions of `header_lines`' declarations (appended to model_input.c)."""
    t = "int8_t" if int8 else "float"
    lines = [ARGMAX_DECLARATION.replace(";", ""), "{",
             f"    const {t} *y = (const {t} *)output;", "    int32_t best = 0;", "    int32_t i;",
             "    for (i = 1; i < ET_MODEL_OUTPUT_COUNT; ++i) {", "        if (y[i] > y[best]) {",
             "            best = i;", "        }", "    }", "    return best;", "}", ""]
    if class_names:
        names = ", ".join(c_string(n) for n in class_names)
        lines += [f"const char *const {CLASS_NAMES}[ET_MODEL_N_CLASSES] = {{{names}}};", ""]
    return "\n".join(lines)

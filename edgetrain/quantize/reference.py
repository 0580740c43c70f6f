"""numpy int8 reference executor: the bit-exact contract the generated C must equal.

Built only from `edgetrain.formats.quant` (whose kernels equal ``et_dense_s8[_ref]`` and
``et_add_s8``) plus the trivial clamp of ``et_relu_s8``/``et_relu6_s8``.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..formats import quant
from .model import QAdd, QAlias, QClamp, QDense, QuantizedModel


def run_int8(qmodel: QuantizedModel, x_q: ArrayLike) -> NDArray[np.int8]:
    """Run already-quantized int8 inputs [N, *input_shape]; returns int8 outputs [N, n_out]."""
    x = np.asarray(x_q)
    if x.dtype != np.int8:
        raise TypeError(f"run_int8 takes int8 inputs, got {x.dtype} (use int8_reference for floats)")
    n = x.shape[0]
    values: dict[str, np.ndarray] = {qmodel.lowered.input: x.reshape(n, -1)}
    for st in qmodel.steps:
        if isinstance(st, QAlias):
            values[st.output] = values[st.input]
        elif isinstance(st, QDense):
            values[st.output] = quant.dense_s8_reference(
                values[st.input], st.weights, st.bias, st.input_zero_point, st.output_zero_point,
                st.multipliers, st.shifts, st.act_min, st.act_max).reshape(n, -1)
        elif isinstance(st, QAdd):
            values[st.output] = quant.add_s8_reference(values[st.inputs[0]], values[st.inputs[1]], st.params)
        elif isinstance(st, QClamp):
            values[st.output] = np.clip(values[st.input].astype(np.int32), st.zero_point,
                                        min(st.six_q, 127)).astype(np.int8)
        else:  # pragma: no cover - QStep is closed
            raise TypeError(f"unknown step {st!r}")
    return values[qmodel.lowered.output]


def int8_reference(qmodel: QuantizedModel, x_float: ArrayLike) -> NDArray[np.int8]:
    """Quantize float samples with the model's input scale, run the int8 graph: int8 outputs."""
    return run_int8(qmodel, qmodel.quantize_input(x_float))


def int8_predict(qmodel: QuantizedModel, x_float: ArrayLike) -> NDArray[np.float32]:
    """Dequantized outputs of :func:`int8_reference` (for accuracy comparisons)."""
    return qmodel.dequantize_output(int8_reference(qmodel, x_float))

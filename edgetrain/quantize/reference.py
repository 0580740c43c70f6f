"""numpy int8 reference executor: the bit-exact contract the generated C must equal.

Each step runs by its op kind's rule (`quantize.rules`), built only from `edgetrain.quantize.int8`
(whose kernels equal ``et_dense_s8[_ref]``, ``et_add_s8`` and ``et_lut_s8``) plus the trivial
clamp of ``et_relu_s8``/``et_relu6_s8``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .model import QuantizedModel
from .rules import quantize_rule


def run_int8(qmodel: QuantizedModel, x_q: ArrayLike) -> NDArray[np.int8]:
    """Run already-quantized int8 inputs [N, *input_shape]; returns int8 outputs [N, n_out]."""
    x = np.asarray(x_q)
    if x.dtype != np.int8:
        raise TypeError(f"run_int8 takes int8 inputs, got {x.dtype} (use int8_reference for floats)")
    n = x.shape[0]
    values: dict[str, np.ndarray] = {qmodel.lowered.input: x.reshape(n, -1)}
    for st, q in zip(qmodel.lowered.steps, qmodel.steps):
        values[q.output] = quantize_rule(st.kind).run(q, values, n)
    return values[qmodel.lowered.output]


def int8_reference(qmodel: QuantizedModel, x_float: ArrayLike) -> NDArray[np.int8]:
    """Quantize float samples with the model's input scale, run the int8 graph: int8 outputs."""
    return run_int8(qmodel, qmodel.quantize_input(x_float))


def int8_predict(qmodel: QuantizedModel, x_float: ArrayLike) -> NDArray[np.float32]:
    """Dequantized outputs of :func:`int8_reference` (for accuracy comparisons)."""
    return qmodel.dequantize_output(int8_reference(qmodel, x_float))

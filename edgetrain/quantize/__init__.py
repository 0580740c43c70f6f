"""Whole-graph post-training int8 quantization and its numpy reference executor.

    qm = quantize_model(graph, calib_x, per_channel=True, method="minmax")
    y_q = int8_reference(qm, x_float)          # int8 outputs, the C code's bit-exact contract
    save_model(qm.graph, "model_int8.etm")     # qparams travel in the model file
    qm2 = from_graph(load_model("model_int8.etm"))

See `edgetrain.quantize.model` for the int8 I/O contract.
"""

from ..deprecation import moved
from .model import QAdd, QAlias, QClamp, QConv, QDense, QLut, QPool, QStep, QTensor, QuantizedModel
from .ptq import calibrate, from_graph, has_quantization, quantize_model
from .reference import int8_predict, int8_reference, run_int8

__all__ = [
    "QAdd",
    "QAlias",
    "QClamp",
    "QConv",
    "QDense",
    "QLut",
    "QPool",
    "QStep",
    "QTensor",
    "QuantizedModel",
    "calibrate",
    "from_graph",
    "has_quantization",
    "int8_predict",
    "int8_reference",
    "quantize_model",
    "run_int8",
]

# The float lowering moved to `edgetrain.transforms`.
__getattr__ = moved(__name__, "edgetrain.transforms.lowering", ("Lowered", "Step", "lower_graph"))

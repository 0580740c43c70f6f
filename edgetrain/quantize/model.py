"""The quantized model: int8 tensors' scales and the integer parameters of every kernel call.

A :class:`QuantizedModel` is what both the numpy int8 reference executor and the C generator
read, so the two cannot disagree about a scale, a multiplier or a fused clamp.

Model I/O contract (int8): the caller quantizes the float input (standardised features, as the
model was trained on) with ``q = clamp(round_half_even(x / input_scale) + input_zero_point,
-128, 127)`` (:meth:`QuantizedModel.quantize_input`); the model returns int8 values of its output
tensor with ``output_scale``/``output_zero_point``. When the float graph ends in a softmax, the
int8 model stops before it and returns the quantized *logits* (softmax never changes the argmax).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DataError
from ..graph import Graph
from ..ops.conv import Geometry
from ..transforms.lowering import Lowered
from . import int8


@dataclass(frozen=True)
class QTensor:
    """An int8 activation tensor: real = scale * (q - zero_point)."""

    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int

    @property
    def size(self) -> int:
        """Element count of one sample (1 for a scalar shape)."""
        return int(np.prod(self.shape)) if self.shape else 1


@dataclass(frozen=True)
class QWeighted:
    """What every int8 kernel with weights takes: symmetric int8 weights with one scale per output
    channel (or one), an int32 bias and its ``eff_bias`` form (the input offset folded in), the
    requantization ``multipliers``/``shifts`` and the fused clamp."""

    name: str
    input: str
    output: str
    weights: NDArray[np.int8]
    bias: NDArray[np.int32] | None
    eff_bias: NDArray[np.int32]
    weight_scales: NDArray[np.float64]
    multipliers: NDArray[np.int32]
    shifts: NDArray[np.int32]
    per_channel: bool
    input_zero_point: int
    output_zero_point: int
    act_min: int
    act_max: int
    activation: str | None


@dataclass(frozen=True)
class QDense(QWeighted):
    """``et_dense_s8`` call. ``weights`` are [n_out][n_in] (the C layout), symmetric int8."""

    @property
    def n_in(self) -> int:
        """Input features: the weights' second axis ([n_out][n_in])."""
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        """Output features: the weights' first axis ([n_out][n_in])."""
        return int(self.weights.shape[0])


@dataclass(frozen=True)
class QConv(QWeighted):
    """``et_conv_s8`` / ``et_depthwise_conv_s8`` call (conv1d as height 1).

    ``weights`` keep the numpy layout (kh, kw, C_in/groups, C_out) with kh = 1 for conv1d,
    symmetric int8 with one scale per output channel (or one); the C rule transposes them.
    ``in_shape``/``out_shape`` are one sample's (H, W, C) with H = 1 for 1-D tensors."""

    geometry: Geometry
    groups: int
    depthwise: bool
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]

    @property
    def n_out(self) -> int:
        """Output channels: the weights' last axis (C_out)."""
        return int(self.weights.shape[3])


@dataclass(frozen=True)
class QPool:
    """``et_max_pool_s8`` / ``et_avg_pool_s8`` (input and output share one quantization, as
    TFLite requires) or ``et_global_avg_pool_s8`` (``kind`` global_avg_pool: TFLite MEAN, its own
    output quantization through ``multiplier``/``shift``; ``geometry`` None)."""

    name: str
    input: str
    output: str
    kind: str
    geometry: Geometry | None
    in_shape: tuple[int, int, int]
    act_min: int
    act_max: int
    input_zero_point: int = 0
    output_zero_point: int = 0
    multiplier: int = 0
    shift: int = 0
    activation: str | None = None  # the fused relu / relu6 act_min / act_max apply


@dataclass(frozen=True)
class QAdd:
    """``et_add_s8`` call (TFLite rescaling, optional fused clamp)."""

    name: str
    inputs: tuple[str, str]
    output: str
    params: int8.AddS8Params
    size: int
    activation: str | None


@dataclass(frozen=True)
class QClamp:
    """Stand-alone int8 ReLU / ReLU6 (``et_relu_s8`` / ``et_relu6_s8``): same scale in and out."""

    name: str
    input: str
    output: str
    kind: str  # relu | relu6
    zero_point: int
    six_q: int  # quantized 6.0 (relu6 only; 127 for relu)
    size: int


@dataclass(frozen=True)
class QLut:
    """Element-wise activation as a 256-entry table (``et_lut_s8``): sigmoid, tanh, leaky_relu,
    hard_swish. ``table[x + 128]`` is the output code of input code ``x``."""

    name: str
    input: str
    output: str
    kind: str
    table: NDArray[np.int8]
    size: int


@dataclass(frozen=True)
class QAlias:
    """flatten / identity: the output shares the input's memory."""

    name: str
    input: str
    output: str


QStep = QDense | QConv | QPool | QAdd | QClamp | QLut | QAlias


@dataclass
class QuantizedModel:
    """Whole-graph int8 model. ``graph`` is a copy of the float graph carrying the ``qparams``
    attachments (weights, biases) and ``meta["quantization"]`` (activations), so saving it with
    ``save_model`` keeps everything needed to rebuild this object (:func:`from_graph`)."""

    graph: Graph
    lowered: Lowered
    tensors: dict[str, QTensor]
    steps: list[QStep]
    per_channel: bool
    method: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def input(self) -> QTensor:
        """The model's input tensor, whose scale and zero point :meth:`quantize_input` uses."""
        return self.tensors[self.lowered.input]

    @property
    def output(self) -> QTensor:
        """The model's output tensor, whose scale and zero point :meth:`dequantize_output` uses."""
        return self.tensors[self.lowered.output]

    def quantize_input(self, x: ArrayLike) -> NDArray[np.int8]:
        """Float samples [N, *input_shape] -> int8 with the input scale/zero point.

        NaN or +-inf has no int8 value: DataError (the float C model refuses it on the device
        with ET_ERR_NON_FINITE; here it is refused before quantization)."""
        xf = np.asarray(x, np.float32)
        if not np.all(np.isfinite(xf)):
            bad = int(np.count_nonzero(~np.isfinite(xf)))
            raise DataError(
                f"{bad} input value(s) are NaN or infinite: they have no int8 value",
                hint="clean or impute the data before quantizing it",
            )
        return int8.quantize(xf, self.input.scale, self.input.zero_point)

    def dequantize_output(self, q: ArrayLike) -> NDArray[np.float32]:
        """int8 outputs -> float32: ``(q - output zero point) * output scale``."""
        return int8.dequantize(q, self.output.scale, self.output.zero_point)

    def weight_bytes(self) -> int:
        """Raw int8 weight bytes (one byte per weight): the floor for flash use."""
        return sum(s.weights.size for s in self.steps if isinstance(s, QWeighted))

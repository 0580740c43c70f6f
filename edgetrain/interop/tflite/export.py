"""`export_tflite`: a model as a .tflite file, int8 (full-integer) or float32, without TensorFlow.

    res = export_tflite(graph, "out/model.tflite", dtype="int8", calib_x=data.train.x)
    res.qmodel       # the integer model the file describes (the C export's, bit for bit)

int8: int8 input and output tensors with edgetrain's scales and zero points, per-channel (or
per-tensor) symmetric int8 weights, int32 biases; the final softmax is dropped as in the C
export (the outputs are int8 logits, same argmax). float32: the float graph, batch_norm folded.
Metadata ``edgetrain`` (JSON) holds the input standardisation (mean, std per input value, and
``prepare``: how a raw sample becomes the input tensor, so a runtime that knows nothing of
edgetrain can feed raw data), the class names and the dtype.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from ... import __version__
from ...errors import ConfigError, ExportError
from ...graph import Graph
from ...outputs import write_file
from ...quantize import QuantizedModel, from_graph, has_quantization, quantize_model
from ...transforms.fold_batch_norm import fold_for_kernels
from ...transforms.lowering import lower_graph
from .flatbuffer import FILE_IDENTIFIER, ModelSpec, serialize
from .lut import LutTensor, compress_lut
from .rules import Context, reshape, tflite_rule

METADATA_NAME = "edgetrain"
# How a raw sample becomes the model's input, in the metadata beside the statistics: exactly what
# edgetrain computes (data_split.apply_preprocess, then quantize.int8.quantize).
PREPARE = {
    "f32": "x = (float32(raw) - mean) / std, in float32",
    "int8": "x = (float32(raw) - mean) / std, in float32; then q = clip(round_half_to_even(float64(x) / "
    "scale) + zero_point, -128, 127) with the input tensor's scale and zero point",
}


@dataclass(frozen=True)
class TFLiteExport:
    """What :func:`build_tflite` / :func:`export_tflite` produce: the file's bytes, where they were written
    (None when only built), the dtype, the integer model the file describes (None for float32) and the
    TFLite operator names in execution order."""

    path: Path | None
    data: bytes
    dtype: str
    qmodel: QuantizedModel | None
    operators: tuple[str, ...]  # TFLite operator names (builtin, or TFLM_DECODE), in execution order
    compression: str = "none"  # "lut": TFLM's LUT compression of the clustered weights (see `lut`)
    lut: tuple[LutTensor, ...] = ()  # the LUT-compressed tensors

    def prepare_input(self, x_float: ArrayLike) -> np.ndarray:
        """Standardised float samples -> what the .tflite's input takes (int8 quantized)."""
        if self.qmodel is not None:
            return self.qmodel.quantize_input(x_float)
        return np.ascontiguousarray(np.asarray(x_float, np.float32))


def build_tflite(
    graph: Graph,
    dtype: Literal["int8", "f32"] = "int8",
    *,
    qmodel: QuantizedModel | None = None,
    calib_x: ArrayLike | None = None,
    per_channel: bool = True,
    compression: Literal["none", "lut"] = "none",
) -> TFLiteExport:
    """The .tflite bytes of ``graph`` (int8 needs ``qmodel``, calibration data, or a graph that
    carries its quantization). ``compression="lut"`` (int8 only): TFLite Micro's LUT compression of the
    clustered layers' weights, decoded at run time by its DECODE operator (`lut.compress_lut`)."""
    if dtype not in ("int8", "f32"):
        raise ConfigError(f"unknown dtype {dtype!r}", hint="use int8 or f32")
    if compression not in ("none", "lut"):
        raise ConfigError(f"unknown compression {compression!r}", hint="use none or lut")
    if compression == "lut" and dtype != "int8":
        raise ConfigError("--compression lut needs --dtype int8", hint="LUT compression stores int8 weight values")
    if dtype == "int8":
        if qmodel is None:
            if calib_x is not None:
                qmodel = quantize_model(graph, calib_x, per_channel=per_channel)
            elif has_quantization(graph):
                qmodel = from_graph(graph)
            else:
                raise ConfigError(
                    "int8 TFLite export needs calibration data (calib_x / --calib) or a quantized model",
                    hint="pass --calib DATA[:split], e.g. digits:train",
                )
        lowered = qmodel.lowered
        source = qmodel.graph
    else:
        source = fold_for_kernels(graph)
        lowered = lower_graph(source, drop_final_softmax=False)
    rules = [tflite_rule(st.kind) for st in lowered.steps]  # one error for an unsupported kind first
    spec = ModelSpec(graph.name, description=f"edgetrain {__version__}")
    ctx = Context(spec, source, lowered, qmodel)
    in_shape = tuple(lowered.shapes[lowered.input])
    x = ctx.activation(lowered.input, (1, *in_shape))
    spec.inputs.append(x)
    if len(in_shape) == 2:  # (L, C) windows run as [1, 1, L, C] inside (rules.tflite_shape)
        reshape(ctx, x, (1, 1, *in_shape), lowered.input, name=f"{lowered.input}/as_2d")
    qsteps = qmodel.steps if qmodel is not None else [None] * len(lowered.steps)
    for rule, st, q in zip(rules, lowered.steps, qsteps):
        if q is None:
            rule.f32(ctx, st)
        else:
            rule.s8(ctx, st, q)
    out = ctx.index[lowered.output]
    if spec.tensors[out].shape != (1, *lowered.shapes[lowered.output]):
        out = reshape(ctx, out, (1, *lowered.shapes[lowered.output]), lowered.output, name=f"{lowered.output}/out")
    spec.outputs.append(out)
    spec.metadata[METADATA_NAME] = json.dumps(_metadata(graph, dtype, lowered.dropped_softmax)).encode()
    from tflite.BuiltinOperator import BuiltinOperator

    names = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
    operators = tuple(names[op.code] for op in spec.operators)
    if compression == "lut":
        assert qmodel is not None
        packed = compress_lut(serialize(spec), qmodel)
        return TFLiteExport(None, packed.data, dtype, qmodel, packed.operators, compression, packed.tensors)
    return TFLiteExport(None, serialize(spec), dtype, qmodel, operators)


def _metadata(graph: Graph, dtype: str, dropped_softmax: str | None) -> dict[str, Any]:
    pre = graph.meta.get("preprocess") or {}
    doc: dict[str, Any] = {
        "format": 1,
        "exporter": f"edgetrain {__version__}",
        "model": graph.name,
        "dtype": dtype,
        "input": "standardised" if "mean" in pre else "as trained",
    }
    if "mean" in pre:
        # Per-value statistics have no per-tensor input quantization to fold into (TFLite
        # quantizes activations per tensor): the file carries them, and how to apply them.
        doc["preprocess"] = {"mean": pre["mean"], "std": pre["std"]}
        doc["prepare"] = PREPARE[dtype]
    if graph.meta.get("class_names"):
        doc["class_names"] = list(graph.meta["class_names"])
    if dropped_softmax:
        doc["dropped_softmax"] = dropped_softmax
    return doc


def is_edgetrain_tflite(path: Path) -> bool:
    """Whether ``path`` is a .tflite file edgetrain wrote (its identifier and our metadata name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            rest = f.read(1 << 26)
    except OSError:
        return False
    return head[4:8] == FILE_IDENTIFIER and METADATA_NAME.encode() in rest and b"edgetrain " in rest


def export_tflite(
    graph: Graph,
    path: str | os.PathLike[str],
    dtype: Literal["int8", "f32"] = "int8",
    *,
    qmodel: QuantizedModel | None = None,
    calib_x: ArrayLike | None = None,
    per_channel: bool = True,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    compression: Literal["none", "lut"] = "none",
) -> TFLiteExport:
    """Write ``graph`` as a .tflite file at ``path``, atomically. An existing file is replaced
    only when edgetrain wrote it (or with ``force``); never a ``protect`` path (the model read).
    ``compression="lut"``: see :func:`build_tflite`; a model it cannot compress raises before anything is written."""
    target = Path(path)
    for p in protect:
        if target.exists() and Path(p).exists() and os.path.samefile(target, p):
            raise ConfigError(
                f"{target} is the model being exported; refusing to overwrite it", hint="choose another output file"
            )
    if target.exists() and not force and not is_edgetrain_tflite(target):
        raise ConfigError(
            f"{target} exists and is not a .tflite file edgetrain wrote; refusing to overwrite it",
            hint="choose another output file, or pass --force",
        )
    res = build_tflite(graph, dtype, qmodel=qmodel, calib_x=calib_x, per_channel=per_channel, compression=compression)
    if len(res.data) >= 2**31:  # pragma: no cover - flatbuffers' 32-bit offsets
        raise ExportError(f"the .tflite would be {len(res.data):,} bytes, beyond flatbuffers' 2 GiB")
    written = write_file(target, res.data)
    return replace(res, path=written)

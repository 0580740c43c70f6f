"""Shared ONNX building blocks: version pins, a tiny graph builder and atomic directory output."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ...errors import ExportError
from ...graph import Graph, Param
from ...outputs import output_directory

# Opset 17 and IR 9 load in every runtime the project targets (ORT 1.19.2 reads up to IR 10).
OPSET = 17
IR_VERSION = 9
BATCH = "batch"

_NP_TO_ONNX = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.float64): TensorProto.DOUBLE,
    np.dtype(np.bool_): TensorProto.BOOL,
}


class OnnxBuilder:
    """Accumulates nodes and initializers; hands out unique tensor names."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._names: set[str] = set()
        self._consts: dict[tuple, str] = {}
        # What emitters may read about the graph being emitted (set by `emit_forward`): the graph
        # (parameter shapes: a conv's kernel) and its sample shapes per tensor.
        self.graph: Graph | None = None
        self.shapes: dict[str, tuple[int, ...]] = {}
        # The forward mode being emitted, as `engine.mode.ForwardMode`: a training forward (the
        # train-step graph) with these parameters frozen, or inference. A training forward's state
        # updates (batch_norm running statistics) are recorded here: parameter name -> new value.
        self.training = False
        self.frozen: frozenset[str] = frozenset()
        self.updates: dict[str, str] = {}
        # The model is the base of ONNX Runtime training artifacts: ops whose gradient ORT 1.19
        # lacks or mis-computes are spelled in ops whose gradient it has (see the emitters).
        self.ort_training = False

    def has(self, name: str) -> bool:
        """Whether ``name`` is already a tensor of the model."""
        return name in self._names

    def unique(self, hint: str) -> str:
        """Claim a new tensor name from ``hint``: ``hint`` itself when free, else ``hint_2``, ``hint_3``, ..."""
        name, i = hint, 1
        while name in self._names:
            i += 1
            name = f"{hint}_{i}"
        self._names.add(name)
        return name

    def reserve(self, name: str) -> str:
        """Claim an exact name (graph inputs, parameters, layer outputs); clashes are export errors."""
        if name in self._names:
            raise ExportError(f"ONNX tensor name {name!r} is used twice in the model")
        self._names.add(name)
        return name

    def const(
        self, hint: str, value: np.ndarray | float | int | Sequence, dtype: Any = np.float32, exact_name: bool = False
    ) -> str:
        """The name of an initializer holding ``value`` as ``dtype``: exactly ``hint`` with ``exact_name``
        (a clash is an ExportError), else a unique name, one initializer shared by every small constant
        (at most 8 values) of equal dtype, shape and bytes."""
        arr = np.asarray(value, dtype=dtype)
        if not exact_name:
            # Small scalars/shapes recur (0, 6, axes): share one initializer per value.
            key = (arr.dtype.str, arr.shape, arr.tobytes()) if arr.size <= 8 else None
            if key is not None and key in self._consts:
                return self._consts[key]
        name = self.reserve(hint) if exact_name else self.unique(hint)
        self.initializers.append(numpy_helper.from_array(arr, name))
        if not exact_name and arr.size <= 8:
            self._consts[(arr.dtype.str, arr.shape, arr.tobytes())] = name
        return name

    def op(
        self,
        op_type: str,
        inputs: Sequence[str],
        hint: str | None = None,
        *,
        out: str | None = None,
        n_out: int = 1,
        outs: Sequence[str] | None = None,
        **attrs: Any,
    ) -> Any:
        """Add one node; returns its output name (or a list when n_out > 1).

        ``out`` claims an exact name for a single output; ``outs`` gives already-reserved names."""
        if outs is not None:
            outs, n_out = list(outs), len(outs)
        elif out is not None:
            outs = [self.reserve(out)]
        else:
            base = hint or op_type.lower()
            outs = [self.unique(base if n_out == 1 else f"{base}.{k}") for k in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.unique(f"{outs[0]}.node"), **attrs))
        return outs[0] if n_out == 1 else outs


def value_info(name: str, shape: Sequence[int | str], dtype: Any = np.float32) -> onnx.ValueInfoProto:
    """An ONNX ValueInfo for tensor ``name`` of ``shape`` (ints or symbolic names) and numpy ``dtype``."""
    return helper.make_tensor_value_info(name, _NP_TO_ONNX[np.dtype(dtype)], list(shape))


def make_model(
    b: OnnxBuilder, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto], doc: str = ""
) -> onnx.ModelProto:
    """The ONNX model of builder ``b``'s nodes and initializers, checked by the ONNX checker (ExportError if
    invalid)."""
    graph = helper.make_graph(b.nodes, name, inputs, outputs, initializer=b.initializers, doc_string=doc)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgetrain")
    model.ir_version = IR_VERSION  # set explicitly: newer onnx releases default to IRs ORT 1.19 cannot read
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 (the checker raises several types; all mean the emitter is wrong)
        raise ExportError(f"generated ONNX model {name!r} failed the ONNX checker: {e}") from None
    return model


def frozen_value(p: Param) -> np.ndarray:
    """A non-trained parameter as one plain tensor: codebook lookup and mask folded in."""
    return np.asarray(p.effective(), dtype=np.float32)


def mask_tensor(b: OnnxBuilder, p: Param) -> str:
    """The parameter's mask as a float 0/1 constant named ``<param>.mask`` (created once)."""
    name = f"{p.name}.mask"
    return name if b.has(name) else b.const(name, p.attachment("mask").astype(np.float32), exact_name=True)


def effective_tensor(b: OnnxBuilder, p: Param, store: str) -> str:
    """The forward's view of a trained storage, like `Param.effective()`: codebook lookup, then mask."""
    w = store
    if p.codebook is not None:
        idx = b.const(f"{p.name}.indices", np.asarray(p.indices, np.int64), np.int64, exact_name=True)
        w = b.op("Gather", [w, idx], f"{p.name}.lookup", axis=0)
    if p.mask is not None:
        w = b.op("Mul", [w, mask_tensor(b, p)], f"{p.name}.effective")
    return w


@contextmanager
def atomic_directory(
    target: str | os.PathLike, *, force: bool = False, protect: Iterable[str | os.PathLike] = ()
) -> Iterator[Path]:
    """Yield a staging directory whose content becomes `target` when the block succeeds.

    A thin wrapper of `edgetrain.outputs.output_directory` (manifest, refusal of directories
    edgetrain did not write unless ``force``, atomic replacement). On any error the staging
    directory is removed and an existing `target` is left untouched.
    """
    with output_directory(target, force=force, protect=protect) as tmp:
        yield tmp

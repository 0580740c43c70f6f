"""Run an exported model.onnx in onnxruntime and compare it with the numpy engine."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...engine.executor import predict
from ...graph import Graph


@dataclass(frozen=True)
class OnnxCheck:
    samples: int
    max_abs_diff: float
    onnx_accuracy: float | None
    numpy_accuracy: float | None


def check_onnx(graph: Graph, model_path: str | Path, x: np.ndarray, y: np.ndarray | None = None) -> OnnxCheck:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    x = np.asarray(x, np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    want = predict(graph, x)
    acc = (lambda o: None if y is None else float((o.argmax(1) == y).mean()))
    return OnnxCheck(len(x), float(np.abs(got - want).max()) if len(x) else 0.0, acc(got), acc(want))

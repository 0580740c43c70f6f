"""Run an exported model.onnx in onnxruntime and compare it with the numpy engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...engine.executor import predict
from ...graph import Graph


@dataclass(frozen=True)
class OnnxCheck:
    """onnxruntime against the numpy engine on ``samples`` samples: the largest absolute output
    difference and, when labels were given, each one's accuracy (else None)."""

    samples: int
    max_abs_diff: float
    onnx_accuracy: float | None
    numpy_accuracy: float | None


def check_onnx(graph: Graph, model_path: str | Path, x: np.ndarray, y: np.ndarray | None = None) -> OnnxCheck:
    """onnxruntime on ``x`` (standardised samples) against numpy. A raw-input model
    (``<input>_raw``) is fed raw values made from them with the model's statistics, and numpy
    standardises those same raw values, so both see one input."""
    import onnxruntime as ort

    from ...data import apply_preprocess

    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    x = np.asarray(x, np.float32)
    feed = x
    if sess.get_inputs()[0].name != graph.input_name:
        pre = graph.meta["preprocess"]
        flat = x.reshape(len(x), -1)
        feed = (flat * np.asarray(pre["std"], np.float32) + np.asarray(pre["mean"], np.float32)).astype(np.float32)
        x = apply_preprocess(feed, pre).reshape(x.shape)
        feed = feed.reshape(x.shape)
    got = sess.run(None, {sess.get_inputs()[0].name: feed})[0]
    want = predict(graph, x)

    def acc(o: np.ndarray) -> float | None:
        return None if y is None else float((o.argmax(1) == y).mean())

    return OnnxCheck(len(x), float(np.abs(got - want).max()) if len(x) else 0.0, acc(got), acc(want))

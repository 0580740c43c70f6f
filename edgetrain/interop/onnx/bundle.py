"""`export_onnx`: everything ``edgetrain export onnx`` writes, into one directory, atomically."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import onnx

from ...deprecation import required_keyword
from ...graph import Graph
from .common import atomic_directory
from .inference import build_inference_model
from .train_step import export_train_step

ORT_SUBDIR = "ort"


def export_onnx(
    graph: Graph,
    out_dir: str | Path | None = None,
    *,
    train_step: bool = False,
    ort_artifacts: bool = False,
    optimizer: str = "sgd",
    optimizer_options: dict[str, float] | None = None,
    loss: str = "cross_entropy",
    ort_optimizer: str = "adamw",
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    raw_input: bool = True,
    **deprecated: Any,
) -> dict[str, Any]:
    """Write ``model.onnx`` into ``out_dir``; with `train_step` also ``train_step.onnx`` +
    ``train_step_state.npz``; with `ort_artifacts` an ``ort/`` folder of ONNX Runtime training
    artifacts. Returns a summary.

    With ``raw_input`` (the default) and a stored input standardisation, ``model.onnx`` and
    ``train_step.onnx`` take raw values as ``<input>_raw`` and standardise them inside, as
    edgetrain does (`inference.model_input`); the ORT artifacts take standardised inputs (what
    ``edgetrain ort-train`` feeds them).

    The directory appears complete or not at all (built beside it, then renamed into place); it
    must be new, empty or an earlier edgetrain output unless ``force``, and never a directory
    holding a ``protect`` path (see `edgetrain.outputs`). The old keyword ``directory`` still
    works, with a DeprecationWarning.
    """
    directory = Path(required_keyword("export_onnx", deprecated, "directory", "out_dir", out_dir))
    summary: dict[str, Any] = {"directory": str(directory), "files": []}
    with atomic_directory(directory, force=force, protect=protect) as tmp:
        model = build_inference_model(graph, raw_input=raw_input)
        summary["input"] = model.graph.input[0].name
        summary["input_kind"] = "raw" if model.graph.input[0].name != graph.input_name else "standardised"
        onnx.save(model, str(tmp / "model.onnx"))
        summary["files"].append("model.onnx")
        summary["opset"], summary["ir_version"] = model.opset_import[0].version, model.ir_version
        if train_step:
            ts = export_train_step(graph, tmp, optimizer, loss, raw_input=raw_input, **(optimizer_options or {}))
            summary["files"] += ["train_step.onnx", "train_step_state.npz"]
            summary["train_step"] = {
                "optimizer": optimizer,
                "loss": loss,
                "trainable": ts.trainable,
                "fed_back": ts.state_names,
            }
        if ort_artifacts:
            from .ort_training import export_ort_artifacts

            manifest = export_ort_artifacts(graph, tmp / ORT_SUBDIR, loss=loss, optimizer=ort_optimizer)
            summary["files"].append(f"{ORT_SUBDIR}/")
            summary["ort"] = {"optimizer": ort_optimizer, "loss": loss, "trainable": manifest["trainable"]}
    summary["bytes"] = int(sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()))
    return summary


__all__ = ["ORT_SUBDIR", "export_onnx"]

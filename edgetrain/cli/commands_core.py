"""`edgetrain train`, `info` and `eval`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np

from ..config import load_config
from ..data import Dataset
from ..data_sources import Samples, model_samples
from ..deprecation import moved
from ..engine.executor import predict
from ..formats.modelfile import load_model, save_model
from ..graph import Graph
from ..model_report import info_dict, info_tables
from ..outputs import safe_file_stem
from . import options
from .app import cli
from .output import console, emit_json, info, table

if TYPE_CHECKING:
    from ..interop.tflite.reader import TFModel


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Model file to write (default out/NAME.etm).")
@click.option("--seed", type=options.SEED, help="Override the config's seed.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (with the per-epoch history).")
def train(config: str, output: str | None, seed: int | None, quiet: bool, as_json: bool) -> None:
    """Train the model described by a TOML CONFIG.

    Data file paths in CONFIG are relative to CONFIG's directory."""
    from ..train_run import train_from_config

    cfg = load_config(config)
    result = train_from_config(cfg, seed=seed, progress=not quiet and not as_json)
    data = train_data_summary(result.data)
    info(
        f"data: {data['source']}, split train {data['splits']['train']} / val {data['splits']['val']} / "
        f"test {data['splits']['test']} samples"
    )
    for w in result.warnings:
        info(f"warning: {w}")
    # The model name is free text (a TOML string): only a safe stem of it may become a file name.
    out = Path(output) if output else Path("out") / f"{safe_file_stem(cfg.name)}.etm"
    save_model(result.graph, out)
    h = result.history
    final = h.final  # the epoch whose weights the model holds (the restored one after early stopping)
    stopping = None
    if cfg.early_stopping:
        stopping = {
            "patience": cfg.early_stopping,
            "stopped_early": h.stopped_early,
            "restored_epoch": h.restored_epoch,
            "best_epoch": h.best_epoch,
            "val_accuracy": final.get("val_acc") if h.restored_epoch else None,
            "val_loss": final.get("val_loss") if h.restored_epoch else None,
        }
    summary = {
        "model": result.graph.name,
        "output": str(out),
        "epochs": len(h.epochs),
        "seconds": round(h.seconds, 2),
        "final_loss": final.get("loss"),
        "val_accuracy": final.get("val_acc"),
        "val_loss": final.get("val_loss"),
        "test_accuracy": result.test_accuracy,
        **result.reports,
    }
    if result.data.class_names:
        summary["classes"] = ", ".join(result.data.class_names)
    if as_json:
        emit_json(
            "train",
            {
                **summary,
                "config": config,
                "data": data,
                "early_stopping": stopping,
                "warnings": result.warnings,
                "history": [
                    {k: e.get(k) for k in ("epoch", "loss", "train_acc", "val_loss", "val_acc") if k in e}
                    for e in h.epochs
                ],
            },
        )
        return
    rows = [[k, "-" if v is None else v] for k, v in summary.items()]
    if stopping is not None:
        rows.insert(3, ["early stopping", _stopping_text(stopping, len(h.epochs))])
    table(f"trained {cfg.name}", ["metric", "value"], rows)


def _stopping_text(stopping: dict, epochs: int) -> str:
    if stopping["restored_epoch"] is None:
        return f"did not stop (patience {stopping['patience']}); weights of the last epoch ({epochs})"
    return (
        f"stopped after epoch {epochs}; restored epoch {stopping['restored_epoch']} "
        f"(val accuracy {stopping['val_accuracy']:.4g}, val loss {stopping['val_loss']:.4g})"
    )


def train_data_summary(data: Dataset) -> dict:
    """The ``data`` field of ``train --json``: the source, the training split's size, every split's."""
    sizes = {p: len(getattr(data, p)) if getattr(data, p) is not None else 0 for p in ("train", "val", "test")}
    source = data.spec.get("source", data.name)
    return {
        "source": source,
        "split": "train",
        "samples": sizes["train"],
        "splits": sizes,
        "layout": data.spec.get("layout"),
    }


@cli.command("info")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def info_cmd(model: str, as_json: bool) -> None:
    """Per-layer table of a MODEL (.etm, or a .tflite read directly): output shape, parameters,
    MACs, stored and output bytes; for an int8 .tflite also the quantization of every tensor."""
    tflite = model.lower().endswith(".tflite")
    if tflite:
        from ..extras import require

        require("tflite", "edgetrain info on a .tflite file")
        from ..interop.tflite.importer import import_tflite
        from ..interop.tflite.reader import read_tflite

        graph = import_tflite(model)
        tensors = tflite_tensor_rows(read_tflite(model))
    else:
        graph = load_model(model)
        tensors = []
    if as_json:
        emit_json("info", {"model_file": model, **info_dict(graph), **({"tflite_tensors": tensors} if tflite else {})})
        return
    for t in info_tables(graph):
        table(t.title, t.columns, t.rows)
    if tensors:
        table(
            f"{model}: tensors (int8: scale and zero point; per-channel weights: the first of each)",
            ["index", "name", "type", "shape", "scale", "zero point", "channels"],
            [
                [
                    r["index"],
                    r["name"],
                    r["type"],
                    r["shape"],
                    r["scale"] if r["scale"] is not None else "",
                    r["zero_point"] if r["zero_point"] is not None else "",
                    r["channels"],
                ]
                for r in tensors
            ],
        )
    names = graph.meta.get("class_names")
    if names:
        console.print(f"classes: {', '.join(f'{i} {n}' for i, n in enumerate(names))}", markup=False, highlight=False)
    pre = graph.meta.get("preprocess") or {}
    if pre.get("source"):
        console.print(f"trained on: {pre['source']} ({data_line(pre)})", markup=False, highlight=False)


def tflite_tensor_rows(m: TFModel) -> list[dict]:
    """One row per tensor of a decoded .tflite: name, type, shape, quantization."""
    rows = []
    for t in m.tensors:
        q = t.quantized
        rows.append(
            {
                "index": t.index,
                "name": t.name[:60],
                "type": t.type_name,
                "shape": "x".join(map(str, t.shape)),
                "scale": float(t.qscale[0]) if q else None,
                "zero_point": int(t.qzero_point[0]) if q else None,
                "channels": int(t.qscale.size) if q and t.qscale.size > 1 else "",
            }
        )
    return rows


def load_eval_data(graph: Graph, source: str, *, labels: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Features (standardised as at training time) and labels for SOURCE[:split]; prints which.

    `load_samples` without the bookkeeping: every command that takes samples loads them here (or
    there), so all of them refuse the same bad data and print the same ``data:`` line (stderr).
    """
    s = load_samples(graph, source, labels=labels)
    return s.x, s.y


def load_samples(graph: Graph, source: str, *, labels: bool = True, limit: int | None = None) -> Samples:
    """The samples of SOURCE[:split] for GRAPH (`edgetrain.data_sources.model_samples`), the first
    ``limit`` of them when given, with the one ``data: SOURCE, split S, N samples`` line printed
    to stderr."""
    s = model_samples(graph, source, labels=labels)
    if limit is not None and limit < len(s.y):
        s = s.head(limit)
    info(s.describe())
    return s


@cli.command("eval")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--data",
    "source",
    required=True,
    help="DATASET[:test|val|train] or FILE[:test|val|train] (.npz/.csv); FILE:test is the split the "
    "model's training held out of FILE; a FILE alone is used whole.",
)
@click.option(
    "--outputs",
    "outputs_file",
    type=click.Path(dir_okay=False),
    help="Write the model's raw outputs (key outputs, one row per sample; float32 logits) to this .npz.",
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def eval_cmd(model: str, source: str, outputs_file: str | None, as_json: bool) -> None:
    """Accuracy and loss of MODEL on --data."""
    from ..engine.losses import CrossEntropy

    graph = load_model(model)
    s = load_samples(graph, source)  # labels checked against the model's outputs there
    logits = predict(graph, s.x)
    if outputs_file is not None:
        from ..outputs import write_arrays

        write_arrays(outputs_file, {"outputs": logits, "labels": s.y}, "eval float32 outputs")
    pred = logits.argmax(1)
    acc = float((pred == s.y).mean())
    loss, _ = CrossEntropy()(logits, s.y)
    names = graph.meta.get("class_names")
    res = {
        "model": graph.name,
        "model_file": model,
        "data": s.to_dict(),
        "samples": int(len(s.y)),
        "accuracy": acc,
        "loss": loss,
    }
    if names:
        res["classes"] = list(names)
        res["per_class_accuracy"] = {
            n: (float((pred[s.y == k] == k).mean()) if (s.y == k).any() else None) for k, n in enumerate(names)
        }
    if as_json:
        emit_json("eval", res)
        return
    rows = [
        ["data", f"{s.source} ({s.split})"],
        *[[k, v] for k, v in res.items() if k not in ("data", "classes", "per_class_accuracy")],
    ]
    if names:
        rows += [[f"accuracy of {n}", "-" if a is None else a] for n, a in res["per_class_accuracy"].items()]
    table(f"eval {model}", ["metric", "value"], rows)


def data_line(pre: dict) -> str:
    """How a model's training data was split, for `info`: layout, seed, sizes."""
    samples = pre.get("samples") or {}
    sizes = " / ".join(f"{p} {samples[p]}" for p in ("train", "val", "test") if isinstance(samples.get(p), int))
    parts = [pre.get("layout") or "split", f"seed {pre.get('seed', 0)}"]
    if sizes:
        parts.append(sizes)
    for k in ("window", "stride", "label_column"):
        if pre.get(k) is not None:
            parts.append(f"{k} {pre[k]}")
    return ", ".join(str(p) for p in parts)


__all__ = ["eval_cmd", "info_cmd", "load_eval_data", "load_samples", "train"]

# The rows `info` prints moved to `edgetrain.model_report`.
__getattr__ = moved(__name__, "edgetrain.model_report", ("layer_rows", "sparse_rows"))

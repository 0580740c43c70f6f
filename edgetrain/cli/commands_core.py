"""`edgetrain train`, `info` and `eval`."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..config import load_config
from ..data import apply_preprocess, load_data, read_file
from ..data_checks import check_model_samples
from ..engine.executor import predict
from ..errors import DataError
from ..formats.modelfile import load_model, save_model
from ..deprecation import moved
from ..graph import Graph
from ..model_report import info_dict, info_tables
from ..outputs import safe_file_stem
from . import options
from .app import cli
from .output import emit_json, table


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Model file to write (default out/NAME.etm).")
@click.option("--seed", type=options.SEED, help="Override the config's seed.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train(config: str, output: str | None, seed: int | None, quiet: bool, as_json: bool) -> None:
    """Train the model described by a TOML CONFIG."""
    from ..train_run import train_from_config

    cfg = load_config(config)
    result = train_from_config(cfg, seed=seed, progress=not quiet and not as_json)
    # The model name is free text (a TOML string): only a safe stem of it may become a file name.
    out = Path(output) if output else Path("out") / f"{safe_file_stem(cfg.name)}.etm"
    save_model(result.graph, out)
    last = result.history.epochs[-1]
    summary = {"model": str(out), "epochs": len(result.history.epochs), "seconds": round(result.history.seconds, 2),
               "final_loss": last["loss"], "val_accuracy": last.get("val_acc"),
               "test_accuracy": result.test_accuracy, **result.reports}
    if as_json:
        emit_json(summary)
        return
    table(f"trained {cfg.name}", ["metric", "value"], [[k, "-" if v is None else v] for k, v in summary.items()])


@cli.command("info")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def info_cmd(model: str, as_json: bool) -> None:
    """Per-layer table of a MODEL: output shape, parameters, MACs, stored and output bytes."""
    graph = load_model(model)
    if as_json:
        emit_json(info_dict(graph))
        return
    for t in info_tables(graph):
        table(t.title, t.columns, t.rows)


def load_eval_data(graph: Graph, source: str, *, labels: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Features (standardised as at training time) and labels for SOURCE[:split].

    A bundled name re-creates the model's own split (default split: test); a file is used whole.
    Every command that takes samples loads them here, so all of them refuse the same bad data:
    the samples pass `check_model_samples` (the model's input width and output count) before
    and after the standardisation (which can overflow float32). ``labels=False`` for samples whose
    labels are not used (calibration): they are not checked against the model's outputs.
    """
    name, _, split = source.partition(":")
    pre = graph.meta.get("preprocess") or {}
    if Path(name).suffix in (".npz", ".csv"):
        x, y = check_model_samples(graph, *read_file(name), source=name, x_dtype=np.float64, labels=labels)
        return check_model_samples(graph, apply_preprocess(x, pre), y, source=f"{name} (standardised)",
                                   labels=labels)
    spec = {k: pre[k] for k in ("seed", "test_size", "val_size") if k in pre}
    data = load_data(name, **spec)
    s = data.split(split or "test")
    x, y = check_model_samples(graph, s.x, s.y, source=source, labels=labels)
    if pre and (np.shape(pre.get("mean")) != data.mean.shape or np.shape(pre.get("std")) != data.std.shape
                or not np.allclose(data.mean, pre["mean"]) or not np.allclose(data.std, pre["std"])):
        raise DataError(f"{name}: standardisation differs from the model's training data",
                        hint="was the model trained on another dataset?")
    return x, y


@cli.command("eval")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", "source", required=True, help="digits[:test|val|train] or a .npz/.csv file.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def eval_cmd(model: str, source: str, as_json: bool) -> None:
    """Accuracy and loss of MODEL on --data."""
    from ..engine.losses import CrossEntropy

    graph = load_model(model)
    x, y = load_eval_data(graph, source)  # labels checked against the model's outputs there
    logits = predict(graph, x)
    acc = float((logits.argmax(1) == y).mean())
    loss, _ = CrossEntropy()(logits, y)
    res = {"model": model, "data": source, "samples": int(len(y)), "accuracy": acc, "loss": loss}
    if as_json:
        emit_json(res)
        return
    table(f"eval {model}", ["metric", "value"], [[k, v] for k, v in res.items()])


__all__ = ["train", "info_cmd", "eval_cmd", "load_eval_data"]

# The rows `info` prints moved to `edgetrain.model_report`.
__getattr__ = moved(__name__, "edgetrain.model_report", ("layer_rows", "sparse_rows"))

"""`edgetrain train`, `info` and `eval`."""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from ..config import load_config
from ..data import apply_preprocess, load_data, read_file
from ..engine.executor import predict
from ..errors import DataError
from ..formats.modelfile import load_model, save_model
from ..graph import Graph
from ..outputs import safe_file_stem
from ..ops import get_op
from .app import cli
from .output import emit_json, info, table


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Model file to write (default out/NAME.etm).")
@click.option("--seed", type=int, help="Override the config's seed.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def train(config: str, output: str | None, seed: int | None, quiet: bool, as_json: bool) -> None:
    """Train the model described by a TOML CONFIG."""
    from ..run import train_from_config

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


def sparse_rows(graph: Graph) -> list[dict]:
    """Per masked 2-D weight: density and the bytes of every storage format (float32 values), and
    the format an int8 export would choose.

    Sizes come from the encoders the C generator emits (`formats.sparse`), which take C layout
    [n_out][n_in], hence the transposes. ``grouped`` is sized on the model with hidden units sorted
    by fan-in, as the export does before using it (fewer, longer runs). Byte counts depend only on
    the mask and the value width, so the int8 sizes need no quantization. A motif layer also
    reports its shared (unique) weights and the smallest encoding of its block grid (one value per
    block: what a motif kernel reads).
    """
    from ..transforms.reorder import sort_units_by_fan_in
    from ..formats.sparse import ENCODERS, all_encodings

    def smallest(encs: dict) -> object:
        return min(encs.values(), key=lambda e: e.nbytes.total)  # same rule as choose_format

    sorted_graph = sort_units_by_fan_in(graph)
    rows = []
    for node in graph.nodes:
        for role, p in graph.node_params(node).items():
            if p.mask is None or p.value.ndim != 2:
                continue
            encs = all_encodings(p.effective().T, p.mask.T, np.float32)
            chosen = smallest(encs)  # what the "auto" export picks (it does not sort units)
            sp = sorted_graph.params[p.name]
            encs["grouped"] = ENCODERS["grouped"](sp.effective().T, sp.mask.T, np.float32)
            int8 = smallest(all_encodings(np.zeros(p.mask.T.shape), p.mask.T, np.int8))
            row = {"layer": node.name, "param": role, "shape": "x".join(map(str, p.shape)),
                   "density": p.nnz / p.size, "format": chosen.format, "bytes": chosen.nbytes.total,
                   "index_bytes": chosen.nbytes.index, "value_bytes": chosen.nbytes.value,
                   "alternatives": {name: e.nbytes.total for name, e in encs.items()},
                   "int8_format": int8.format, "int8_bytes": int8.nbytes.total}
            if "motif" in p.meta:
                bi, bo = p.meta["motif"]
                row["motif"] = f"{bi}x{bo}"
                blocks = p.mask[::bi, ::bo]
                row["unique_weights"] = int(blocks.sum())
                grid = smallest(all_encodings(p.effective()[::bi, ::bo].T, blocks.T, np.float32))
                row["block_format"], row["block_bytes"] = grid.format, grid.nbytes.total
            rows.append(row)
    return rows


def layer_rows(graph: Graph) -> list[dict]:
    shapes = graph.shapes()
    macs = graph.macs()
    rows = []
    for node in graph.nodes:
        params = graph.node_params(node)
        n = sum(p.size for p in params.values())
        nnz = sum(p.nnz for p in params.values())
        rows.append({"layer": node.name, "op": node.op, "output": "x".join(map(str, shapes[node.name])),
                     "params": n, "nonzero": nnz, "macs": macs[node.name], "float_bytes": 4 * nnz,
                     "trainable": any(p.trainable for p in params.values()) if params else None})
    return rows


@cli.command("info")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def info_cmd(model: str, as_json: bool) -> None:
    """Per-layer table of a MODEL: parameters, MACs, float bytes."""
    graph = load_model(model)
    rows = layer_rows(graph)
    sparse = sparse_rows(graph)
    if as_json:
        emit_json({"name": graph.name, "input": graph.input_shape, "layers": rows, "sparse": sparse,
                   "meta": graph.meta})
        return
    table(f"{graph.name}: input {graph.input_shape}, output {graph.outputs}",
          ["layer", "op", "output", "params", "nonzero", "MACs", "float bytes", "trainable"],
          [[r["layer"], r["op"], r["output"], r["params"], r["nonzero"], r["macs"], r["float_bytes"],
            {True: "yes", False: "no", None: ""}[r["trainable"]]] for r in rows]
          + [["total", "", "", sum(r["params"] for r in rows), sum(r["nonzero"] for r in rows),
              sum(r["macs"] for r in rows), sum(r["float_bytes"] for r in rows), ""]])
    if sparse:
        formats = list(sparse[0]["alternatives"])
        motif = any("motif" in r for r in sparse)
        table("sparse storage (float32 values; bytes per format, chosen = smallest; grouped on units sorted "
              "by fan-in; int8: the smallest with int8 values)",
              ["layer", "shape", "density", "chosen", "bytes", *formats, "int8 chosen",
               *(["motif: block, shared w, block storage"] if motif else [])],
              [[r["layer"], r["shape"], f"{100 * r['density']:.2f}%", r["format"], r["bytes"],
                *[r["alternatives"][f] for f in formats], f"{r['int8_format']} {r['int8_bytes']:,}",
                *([f"{r['motif']} {r['unique_weights']:,} {r['block_format']} {r['block_bytes']:,}"
                   if "motif" in r else ""] if motif else [])]
               for r in sparse])


def load_eval_data(graph: Graph, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Features (standardised as at training time) and labels for SOURCE[:split].

    A bundled name re-creates the model's own split (default split: test); a file is used whole.
    """
    name, _, split = source.partition(":")
    pre = graph.meta.get("preprocess") or {}
    if Path(name).suffix in (".npz", ".csv"):
        x, y = read_file(name)
        return apply_preprocess(x, pre), y.astype(np.int64)
    spec = {k: pre[k] for k in ("seed", "test_size", "val_size") if k in pre}
    data = load_data(name, **spec)
    s = data.split(split or "test")
    if pre and (not np.allclose(data.mean, pre["mean"]) or not np.allclose(data.std, pre["std"])):
        raise DataError(f"{name}: standardisation differs from the model's training data",
                        hint="was the model trained on another dataset?")
    return s.x, s.y


@cli.command("eval")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--data", "source", required=True, help="digits[:test|val|train] or a .npz/.csv file.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def eval_cmd(model: str, source: str, as_json: bool) -> None:
    """Accuracy and loss of MODEL on --data."""
    from ..engine.losses import CrossEntropy

    graph = load_model(model)
    x, y = load_eval_data(graph, source)
    logits = predict(graph, x)
    n_out = logits.shape[1]
    if y.max() >= n_out or y.min() < 0:
        raise DataError(f"labels go up to {int(y.max())} but the model has {n_out} outputs")
    acc = float((logits.argmax(1) == y).mean())
    loss, _ = CrossEntropy()(logits, y)
    res = {"model": model, "data": source, "samples": int(len(y)), "accuracy": acc, "loss": loss}
    if as_json:
        emit_json(res)
        return
    table(f"eval {model}", ["metric", "value"], [[k, v] for k, v in res.items()])


__all__ = ["train", "info_cmd", "eval_cmd", "layer_rows", "sparse_rows", "load_eval_data", "get_op", "info"]

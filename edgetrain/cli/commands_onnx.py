"""`edgetrain export onnx`, `edgetrain import onnx` and `edgetrain ort-train`."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError
from ..extras import require
from ..formats.modelfile import load_model, save_model
from . import options
from .app import cli, export_group, import_group
from .commands_c import FORCE_HELP, OUTPUT_DIR_HELP
from .output import emit_json, imported_summary, report_import, table


@export_group.command("onnx")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help=OUTPUT_DIR_HELP)
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--train-step", is_flag=True, help="Also write train_step.onnx (standard ops) + its initial state.")
@click.option("--ort-artifacts", is_flag=True, help="Also write ONNX Runtime training artifacts into DIR/ort.")
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "adam"]),
    default="sgd",
    show_default=True,
    help="Optimizer of the train-step graph.",
)
@click.option("--momentum", type=options.FRACTION, default=0.9, show_default=True, help="SGD momentum (train step).")
@click.option(
    "--weight-decay", type=options.NON_NEGATIVE, default=0.0, show_default=True, help="Weight decay (train step)."
)
@click.option("--beta1", type=options.FRACTION, default=0.9, show_default=True, help="Adam beta1 (train step).")
@click.option("--beta2", type=options.FRACTION, default=0.999, show_default=True, help="Adam beta2 (train step).")
@click.option("--eps", type=options.POSITIVE, default=1e-8, show_default=True, help="Adam epsilon (train step).")
@click.option("--loss", type=click.Choice(["cross_entropy", "mse"]), default="cross_entropy", show_default=True)
@click.option(
    "--ort-optimizer",
    type=click.Choice(["adamw", "sgd"]),
    default="adamw",
    show_default=True,
    help="Optimizer of the ORT artifacts.",
)
@click.option(
    "--standardised-input",
    is_flag=True,
    help="model.onnx and train_step.onnx take standardised inputs (default: raw values as <input>_raw, "
    "standardised inside with the training statistics).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export_onnx_cmd(
    model: str,
    output: str,
    train_step: bool,
    ort_artifacts: bool,
    optimizer: str,
    momentum: float,
    weight_decay: float,
    beta1: float,
    beta2: float,
    eps: float,
    loss: str,
    ort_optimizer: str,
    standardised_input: bool,
    as_json: bool,
    force: bool,
) -> None:
    """Export MODEL as ONNX (model.onnx; optionally a train step and ORT training artifacts)."""
    require("onnx", "edgetrain export onnx")
    from ..interop.onnx import export_onnx

    graph = load_model(model)
    # The learning rate is an input of the train-step graph; this value only satisfies the optimizer.
    options = (
        {"lr": 0.01, "momentum": momentum, "weight_decay": weight_decay}
        if optimizer == "sgd"
        else {"beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay}
    )
    summary = export_onnx(
        graph,
        output,
        train_step=train_step,
        ort_artifacts=ort_artifacts,
        optimizer=optimizer,
        optimizer_options=options,
        loss=loss,
        ort_optimizer=ort_optimizer,
        force=force,
        protect=[model],
        raw_input=not standardised_input,
    )
    if graph.meta.get("preprocess"):
        # Prove the artifact runs: onnxruntime vs the numpy engine on the model's own test split.
        from ..data_sources import model_split_source
        from ..interop.onnx.check import check_onnx
        from .commands_core import load_eval_data

        test = model_split_source(graph.meta["preprocess"], "test") or ":test"
        x, y = load_eval_data(graph, test)
        chk = check_onnx(graph, Path(output) / "model.onnx", x, y)
        summary["onnxruntime_check"] = {
            "samples": chk.samples,
            "max_abs_diff": chk.max_abs_diff,
            "accuracy": chk.onnx_accuracy,
            "numpy_accuracy": chk.numpy_accuracy,
        }
    if as_json:
        emit_json(
            "export onnx", {"model": graph.name, "model_file": model, "output": summary.pop("directory"), **summary}
        )
        return
    rows = [
        ["files", ", ".join(summary["files"])],
        ["opset / IR", f"{summary['opset']} / {summary['ir_version']}"],
        ["input", f"{summary['input']} ({summary['input_kind']})"],
        ["bytes", summary["bytes"]],
    ]
    if "train_step" in summary:
        rows.append(["train step", f"{optimizer}, {loss}, {len(summary['train_step']['trainable'])} trainable"])
    if "ort" in summary:
        rows.append(["ORT artifacts", f"{ort_optimizer}, {loss}, {len(summary['ort']['trainable'])} trainable"])
    if "onnxruntime_check" in summary:
        c = summary["onnxruntime_check"]
        rows.append(
            [
                "onnxruntime vs numpy",
                f"{c['samples']} test samples, max |diff| {c['max_abs_diff']:.2g}, "
                f"accuracy {100 * c['accuracy']:.2f}% (numpy {100 * c['numpy_accuracy']:.2f}%)",
            ]
        )
    table(f"exported {model} -> {output}", ["item", "value"], rows)


@import_group.command("onnx")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Model file (.etm) to write.")
@click.option("--name", help="Model name (default: the ONNX graph name).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_onnx_cmd(file: str, output: str, name: str | None, as_json: bool) -> None:
    """Convert an ONNX FILE into an edgetrain model."""
    require("onnx", "edgetrain import onnx")
    from ..interop.onnx.importer import import_onnx

    graph = import_onnx(file, name=name)
    save_model(graph, output)
    summary = imported_summary(graph, file, output)
    layout = graph.meta.get("imported_from", {}).get("input_layout")
    if layout:  # a convolutional model: feed it channels-last data (see docs/onnx_import.md)
        summary["input_layout"] = layout
    report_import("import onnx", f"imported {file}", summary, as_json)


@cli.command("ort-train")
@click.argument("artifacts", type=click.Path(file_okay=False))
@click.option("--data", "source", required=True, help="digits[:train|val|test] (default split: train) or .npz/.csv.")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory for model.onnx (inference), checkpoint and model.etm (new, empty, or an earlier "
    "edgetrain output; not the artifacts directory).",
)
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--epochs", type=options.EPOCHS, default=1, show_default=True)
@click.option(
    "--batch-size",
    "--batch",
    "batch_size",
    type=options.BATCH,
    default=32,
    show_default=True,
    help="Samples per training step (--batch is the same option).",
)
@click.option("--lr", type=options.POSITIVE, default=0.01, show_default=True)
@click.option("--seed", type=options.SEED, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def ort_train_cmd(
    artifacts: str,
    source: str,
    output: str,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    as_json: bool,
    force: bool,
) -> None:
    """Train ORT ARTIFACTS (from `export onnx --ort-artifacts`) with onnxruntime.training (no torch)."""
    require("onnx", "edgetrain ort-train")
    from ..data_sources import is_file_source, parse_source
    from ..interop.onnx.ort_training import ort_train, read_manifest
    from .commands_core import load_samples

    art = Path(artifacts)
    if not art.is_dir():
        raise ConfigError(f"artifacts directory {art} does not exist")
    if (art / "ort").is_dir() and not (art / "edgetrain_ort.json").exists():
        art = art / "ort"  # accept the export directory itself
    manifest = read_manifest(art)
    graph = load_model(art / manifest["files"]["model"])
    name, split = parse_source(source)
    # A bundled data set trains on its training split by default; a file alone is used whole.
    samples = load_samples(graph, source if split or is_file_source(name) else f"{name}:train")
    x, y = samples.x, samples.y
    res = ort_train(
        art,
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        out_dir=output,
        force=force,
        protect=[artifacts],
    )
    summary = {
        "model": graph.name,
        "model_file": str(art / manifest["files"]["model"]),
        "output": output,
        "steps": res.steps,
        "loss_before": res.loss_before,
        "loss_after": res.loss_after,
        "optimizer": manifest["optimizer"],
        "loss": manifest["loss"],
        "data": samples.to_dict(),
    }
    if as_json:
        emit_json("ort-train", summary)
        return
    table(f"ort-train {artifacts}", ["metric", "value"], [[k, v] for k, v in summary.items() if k != "data"])

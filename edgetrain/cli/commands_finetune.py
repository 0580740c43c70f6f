"""`edgetrain finetune`: train a model inside an emulated board (or host gcc), commit the weights
to the A/B banks, reboot from the stored bank and evaluate."""

from __future__ import annotations

from pathlib import Path

import click

from ..formats.modelfile import load_model, save_model
from . import options
from .app import cli
from .options import parse_trainable
from .output import emit_json, info, table


def _default_eval(source: str) -> tuple[str, bool]:
    """(evaluation source, whether it is the training samples themselves) without --eval-data:
    a bundled dataset's held-out split; for a file, the file itself (a new file has no split the
    model knows), which the command then says."""
    name, _, _split = source.partition(":")
    if Path(name).suffix in (".npz", ".csv"):
        return source, True
    return f"{name}:test", False


@cli.command("finetune")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("--target", "-t", default="stm32f405", show_default=True, help="Board (see `edgetrain targets`).")
@click.option(
    "--data",
    "source",
    required=True,
    help="Training samples for the device: DATASET[:split] (e.g. digits:train) or a .npz/.csv file.",
)
@click.option("--steps", type=options.STEPS, default=100, show_default=True, help="Training steps on the device.")
@click.option("--trainable", default="last:1", show_default=True, help=options.TRAINABLE_HELP)
@options.device_training_options
@click.option("--eval-data", help="Held-out samples (default: the dataset's test split, or --data for a file).")
@click.option("--calib", help="int8 body calibration data (default: the model's training split).")
@click.option("--seed", type=options.SEED, default=0, show_default=True, help="Order of the training samples.")
@click.option("--fallback-host", is_flag=True, help="Run on host gcc when the target cannot run here.")
@click.option("--production", is_flag=True, help="Production flags (fused multiply-add) instead of parity flags.")
@click.option("--keep", type=click.Path(file_okay=False), help="Keep sources, firmware and the flash image here.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Save the fine-tuned model (.etm).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def finetune_cmd(
    model: str,
    target: str,
    source: str,
    steps: int,
    trainable: str,
    optimizer: options.OptimizerChoice,
    lr: float,
    momentum: float,
    weight_decay: float,
    batch: int,
    body: options.DtypeChoice,
    eval_data: str | None,
    calib: str | None,
    seed: int,
    fallback_host: bool,
    production: bool,
    keep: str | None,
    output: str | None,
    as_json: bool,
) -> None:
    """Fine-tune MODEL on --target: train --steps on --data, commit, reboot, evaluate."""
    from ..device.finetune import finetune_on_device
    from .commands_c import load_body_calibration
    from .commands_core import load_eval_data

    graph = load_model(model)
    x, y = load_eval_data(graph, source)
    eval_source, on_training = (eval_data, False) if eval_data else _default_eval(source)
    if on_training:
        info(
            f"note: no --eval-data: the accuracy before and after is measured on the {len(x)} training samples "
            "themselves, which flatters it (pass --eval-data with held-out samples)"
        )
    xe, ye = load_eval_data(graph, eval_source)
    # An imported int8 model (a .tflite's) keeps its own quantization: nothing to calibrate.
    calib_x = load_body_calibration(graph, body, calib)
    if not as_json:
        info(f"fine-tuning {graph.name} on {target}: {steps} steps x {batch} of {len(x)} samples...")
    rep = finetune_on_device(
        graph,
        target,
        x,
        y,
        steps=steps,
        trainable=parse_trainable(trainable),
        optimizer=optimizer,
        lr=lr,
        momentum=momentum,
        weight_decay=weight_decay,
        batch=batch,
        body=body,
        x_eval=xe,
        y_eval=ye,
        calib_x=calib_x,
        seed=seed,
        fallback_host=fallback_host,
        parity=not production,
        keep_dir=keep,
    )
    if output:
        save_model(rep.graph, output)
    if as_json:
        d = {**rep.to_dict(), "model_file": model, "output": output}
        d["evaluated_on_training_data"] = on_training
        emit_json("finetune", d)
        return
    table(f"{graph.name} fine-tuned on {rep.target}", ["", "value"], rep.rows())
    for note in rep.notes:
        info(f"note: {note}")
    if output:
        info(f"saved {output}")

"""`edgetrain export c --train SPEC`: the on-device training library (and, with --project, a
firmware project whose example fine-tunes on compiled-in batches), instead of the inference code.

The training options are `finetune`'s (`options.device_training_options`), and SPEC is what
`finetune --trainable` takes, applied by the same `train_modes.apply_trainable`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError
from ..graph import Graph
from ..targets import Target
from .options import DEVICE_TRAINING_OPTIONS, DtypeChoice, OptimizerChoice, ProjectChoice, parse_trainable
from .output import emit_json, info, table

#: export c options that configure the inference code only: refused with --train.
INFERENCE_ONLY = ("dtype", "method", "percentile", "force_ref", "sparse_format")


def training_option_names() -> list[str]:
    """The parameter names `device_training_options` adds (optimizer, lr, ...)."""
    names = []
    for option in DEVICE_TRAINING_OPTIONS:
        command = option(click.Command("probe"))
        names += [p.name for p in command.params if p.name]
    return names


def check_option_use(ctx: click.Context, train: bool) -> None:
    """With --train, refuse the inference-only options; without it, the training options (each
    only when given on the command line)."""
    given = [
        n
        for n in (INFERENCE_ONLY if train else training_option_names())
        if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE
    ]
    if not given:
        return
    flags = ", ".join("--" + n.replace("_", "-") for n in given)
    one = len(given) == 1
    if train:
        raise ConfigError(
            f"{flags} {'applies' if one else 'apply'} to the inference export, not to the training code (--train)",
            hint="drop it; the training code's frozen body is chosen with --body",
        )
    raise ConfigError(
        f"{flags} {'configures' if one else 'configure'} the on-device training code: "
        f"{'it needs' if one else 'they need'} --train SPEC",
        hint="add --train SPEC (e.g. --train last:1) to export the training library",
    )


def export_training(
    graph: Graph,
    model: str,
    board: Target,
    out_dir: str,
    spec: str,
    *,
    optimizer: OptimizerChoice,
    lr: float,
    momentum: float,
    weight_decay: float,
    batch: int,
    body: DtypeChoice,
    calib_x: Any,
    per_channel: bool,
    project: ProjectChoice | None,
    example_source: str | None,
    name: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write the training library for ``board`` into ``out_dir`` and print its memory report
    (``calib_x``: the int8 body's calibration samples, `commands_c.load_body_calibration`)."""
    from ..data_sources import model_split_source
    from ..device.finetune import make_batches
    from ..export.c.train_modes import apply_trainable
    from ..export.c.train_plan import export_training_c
    from ..export.c.train_program import DeviceTrainConfig
    from ..export.c.train_project import EXAMPLE_STEPS
    from .commands_core import load_eval_data

    trainable = parse_trainable(spec)
    work, notes = apply_trainable(graph, trainable)
    config = DeviceTrainConfig(
        optimizer=optimizer, lr=lr, momentum=momentum, weight_decay=weight_decay, batch=batch, body=body
    )
    batches = None
    if project is not None:
        source = example_source or model_split_source(graph.meta.get("preprocess") or {}, "train")
        if not source:
            raise ConfigError(
                "the example application needs samples to train on",
                hint="pass --data DATA[:split] (samples with labels), e.g. digits:train",
            )
        x, y = load_eval_data(graph, source)
        batches = make_batches(x, y, EXAMPLE_STEPS, batch, shuffle=False)
        if not as_json:
            info(f"example: {EXAMPLE_STEPS} steps x {batch} samples of {source}")
    exp = export_training_c(
        work,
        board,
        Path(out_dir),
        config,
        calib_x,
        per_channel=per_channel,
        force=force,
        protect=[model],
        project=project,
        example_batches=batches,
        name=name,
    )
    rep = exp.report
    files = [str(f) for f in exp.files]
    if as_json:
        emit_json(
            "export c",
            {
                "model": graph.name,
                "model_file": model,
                "output": str(exp.out_dir),
                "target": rep.target,
                "train": spec,
                "trainable": rep.trainable,
                "config": config.to_dict(),
                "files": files,
                "report": rep.to_dict(),
                "notes": notes + list(exp.program.notes),
            },
        )
        return
    table(
        f"{rep.model} training code ({', '.join(rep.trainable)}) -> {rep.target}, written to {exp.out_dir}",
        ["", "bytes"],
        rep.rows(),
    )
    for note in notes:
        info(f"note: {note}")

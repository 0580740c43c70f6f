"""`edgetrain export c`: generate C sources + memory plan for a target, print the memory report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..formats.modelfile import load_model
from . import options
from .app import export_group
from .output import emit_json, info, table

if TYPE_CHECKING:
    import numpy as np

    from ..graph import Graph

OUTPUT_DIR_HELP = (
    "Directory to write: new, empty, or an earlier edgetrain output (replaced atomically); "
    "never the current or home directory, nor one holding the input."
)
FORCE_HELP = (
    "Write into a directory holding other files: add edgetrain's files beside them, never "
    "overwriting or deleting a file edgetrain did not write."
)

SPARSE_FORMAT_HELP = (
    "Masked layers: auto (smallest bytes), fast (f32: row-grouped CSR on sorted units, "
    "int8: CSC; dense above 50%), or a format name."
)


@export_group.command("c")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    "-t",
    "target",
    required=True,
    help="Board name (see `edgetrain targets`; ./targets/NAME.toml first) or the path of a board TOML.",
)
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False), help=OUTPUT_DIR_HELP)
@click.option("--force", is_flag=True, help=FORCE_HELP)
@options.dtype_option(
    "Arithmetic on the device: int8 (calibrated, the default of every command that targets a device) or float32."
)
@click.option("--per-tensor", is_flag=True, help="int8: one weight scale per layer (default: per channel).")
@click.option(
    "--calib",
    help="int8 calibration data, e.g. digits:train (default: the model's "
    "training set, unless the model is already quantized); with --train, of the "
    "int8 body (--body int8).",
)
@click.option(
    "--method",
    type=click.Choice(["minmax", "percentile"]),
    default="minmax",
    show_default=True,
    help="int8 calibration range.",
)
@click.option("--percentile", type=options.PERCENTILE, default=99.99, show_default=True)
@click.option("--force-ref", is_flag=True, help="Always call the portable reference kernels.")
@click.option("--sparse-format", default="auto", show_default=True, help=SPARSE_FORMAT_HELP)
@click.option(
    "--project",
    type=click.Choice(["make", "cmake"]),
    help="Also write a ready-to-build firmware project: example main.c, start-up code, linker script, "
    "Makefile or CMake files.",
)
@click.option(
    "--data",
    "example_source",
    help="--project: the example samples main.c classifies (default: the "
    "model's test split, the first 8); with --train, the samples it "
    "trains on (default: the model's training split, 8 steps).",
)
@click.option(
    "--name",
    "c_name",
    help="Prefix of every generated symbol, macro and file (default: model.h, "
    "et_model_infer), so several models link into one firmware.",
)
@click.option("--flash", "flash_bytes", type=options.BYTES, help="Flash budget in bytes (default: the target's).")
@click.option("--ram", "ram_bytes", type=options.BYTES, help="RAM budget in bytes (default: the target's).")
@click.option("--json", "as_json", is_flag=True, help="Print the memory report as JSON.")
@click.option(
    "--train",
    "train_spec",
    metavar="SPEC",
    help="Export the on-device training library instead (step, commit to the A/B weight banks, "
    "rollback, divergence guard); SPEC is finetune's --trainable. " + options.TRAINABLE_HELP,
)
@options.device_training_options
@click.pass_context
def export_c_cmd(
    ctx: click.Context,
    model: str,
    target: str,
    out_dir: str,
    dtype: options.DtypeChoice,
    per_tensor: bool,
    calib: str | None,
    method: options.MethodChoice,
    percentile: float,
    force_ref: bool,
    sparse_format: str,
    project: options.ProjectChoice | None,
    example_source: str | None,
    c_name: str | None,
    flash_bytes: int | None,
    ram_bytes: int | None,
    as_json: bool,
    force: bool,
    train_spec: str | None,
    optimizer: options.OptimizerChoice,
    lr: float,
    momentum: float,
    weight_decay: float,
    batch: int,
    body: options.DtypeChoice,
) -> None:
    """Export MODEL as C arrays + runtime calls for --target into -o DIR (with README.md); with
    --train SPEC, the on-device training code."""
    from ..export.c import export_c
    from ..quantize import has_quantization
    from ..targets import load_target, with_budget
    from .commands_c_train import check_option_use, export_training
    from .commands_core import load_eval_data, load_samples

    check_option_use(ctx, train_spec is not None)
    graph = load_model(model)
    if train_spec is not None:
        export_training(
            graph,
            model,
            with_budget(load_target(target), flash_bytes, ram_bytes),
            out_dir,
            train_spec,
            optimizer=optimizer,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            batch=batch,
            body=body,
            calib_x=load_body_calibration(graph, body, calib),
            per_channel=not per_tensor,
            project=project,
            example_source=example_source,
            name=c_name,
            force=force,
            as_json=as_json,
        )
        return
    calib_x = None
    calib_data = None
    if dtype == "int8" and (calib is not None or not has_quantization(graph)):
        source = calib or default_calib(graph)
        calib_samples = load_samples(graph, source, labels=False)
        calib_x, calib_data = calib_samples.x, calib_samples.to_dict()
        if not as_json:
            info(f"calibrating on {source} ({len(calib_x)} samples, {method})")
    example_x = None
    if project is not None:
        example_src = example_source or _default_examples(graph)
        example_x = load_eval_data(graph, example_src, labels=False)[0][:8] if example_src else None
    board = with_budget(load_target(target), flash_bytes, ram_bytes)
    res = export_c(
        graph,
        board,
        Path(out_dir),
        dtype=dtype,
        calib_x=calib_x,
        per_channel=not per_tensor,
        method=method,
        percentile=percentile,
        force_ref=force_ref,
        sparse_format=sparse_format,
        force=force,
        protect=[model],
        project=project,
        example_x=example_x,
        name=c_name,
    )
    rep = res.report
    if as_json:
        emit_json(
            "export c",
            {
                "model": graph.name,
                "model_file": model,
                "output": str(res.out_dir),
                "target": rep.target,
                "dtype": rep.dtype,
                "files": [str(f) for f in res.files],
                "report": rep.to_dict(),
                "calibration_data": calib_data,
            },
        )
        return
    table(
        f"{rep.model} -> {rep.target} ({rep.dtype}), written to {res.out_dir}\n{rep.TABLE_LEGEND}",
        list(rep.TABLE_COLUMNS),
        rep.table_rows(),
    )
    table("totals", ["", "bytes", "budget"], rep.summary_rows())


def _default_examples(graph: Graph) -> str | None:
    """The model's test split, when it was trained on a known source."""
    from ..data_sources import model_split_source

    return model_split_source(graph.meta.get("preprocess") or {}, "test")


def default_calib(graph: Graph) -> str:
    """The calibration source of an int8 export that names none: the model's training split."""
    from ..data_sources import model_split_source
    from ..errors import ConfigError

    source = model_split_source(graph.meta.get("preprocess") or {}, "train")
    if not source:
        raise ConfigError(
            "int8 export needs calibration data",
            hint="pass --calib DATA[:split], e.g. digits:train, or export float32 with --dtype f32",
        )
    return source


def load_body_calibration(graph: Graph, body: str, calib: str | None) -> np.ndarray | None:
    """Calibration samples of an int8 frozen body (`finetune --calib`, `export c --train --calib`):
    --calib, else the model's training split; None for a float body or a model whose imported
    int8 quantization is kept."""
    from ..export.c.train_program import imported_quantization
    from .commands_core import load_eval_data

    if body != "int8" or (calib is None and imported_quantization(graph)):
        return None
    return load_eval_data(graph, calib or default_calib(graph), labels=False)[0]

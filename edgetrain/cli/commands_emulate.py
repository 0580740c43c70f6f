"""`edgetrain emulate`: export, build, run on an emulated board (or host gcc), compare with numpy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ..formats.modelfile import load_model
from . import options
from .app import cli
from .commands_c import SPARSE_FORMAT_HELP
from .output import emit_json, info, table

if TYPE_CHECKING:
    from ..device.verify import EmulationReport


@cli.command("emulate")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--target",
    "-t",
    default="stm32f405",
    show_default=True,
    help="Board (see `edgetrain targets`; ./targets/NAME.toml first) or the path of a board TOML.",
)
@click.option("--flash", "flash_bytes", type=options.BYTES, help="Flash budget in bytes (default: the target's).")
@click.option("--ram", "ram_bytes", type=options.BYTES, help="RAM budget in bytes (default: the target's).")
@click.option(
    "--data",
    "source",
    default="digits:test",
    show_default=True,
    help="Samples to run: DATASET[:split] or a .npz/.csv file.",
)
@options.dtype_option("Arithmetic on the device: int8 (calibrated) or float32.")
@click.option("--per-tensor", is_flag=True, help="int8: one weight scale per layer (default: per channel).")
@click.option("--calib", help="int8 calibration data (default: the model's training split).")
@click.option("--limit", type=options.SAMPLES, help="Run only the first N samples.")
@click.option("--fallback-host", is_flag=True, help="Run on host gcc when the target cannot run here.")
@click.option("--production", is_flag=True, help="Production flags (fused multiply-add) instead of parity flags.")
@click.option("--force-ref", is_flag=True, help="Use the portable reference kernels only.")
@click.option("--sparse-format", default="auto", show_default=True, help=SPARSE_FORMAT_HELP)
@click.option("--keep", type=click.Path(file_okay=False), help="Keep the generated C sources in this directory.")
@click.option(
    "--max-disagreements",
    type=options.DISAGREEMENTS,
    help="Exit 3 when more samples than this disagree with numpy (default: 0 for parity builds, "
    "no check with --production).",
)
@click.option(
    "--min-accuracy", type=options.ACCURACY, help="Exit 3 when the device accuracy is below this fraction (e.g. 0.95)."
)
@click.option(
    "--outputs",
    "outputs_file",
    type=click.Path(dir_okay=False),
    help="Write the raw device outputs (key outputs, one row per sample) and the input tensors fed "
    "(key inputs: int8 for int8 models) to this .npz.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def emulate_cmd(
    model: str,
    target: str,
    source: str,
    dtype: options.DtypeChoice,
    per_tensor: bool,
    calib: str | None,
    limit: int | None,
    fallback_host: bool,
    production: bool,
    force_ref: bool,
    sparse_format: str,
    keep: str | None,
    max_disagreements: int | None,
    min_accuracy: float | None,
    outputs_file: str | None,
    flash_bytes: int | None,
    ram_bytes: int | None,
    as_json: bool,
) -> None:
    """Run MODEL on --target with --data and report accuracy, instructions and memory.

    Exit status: 0, 2 for a user error, 3 when a check fails (--max-disagreements, --min-accuracy):
    the report is printed first, so a CI job shows what it measured."""
    from ..device.verify import emulate_model
    from .commands_c import default_calib
    from .commands_core import load_eval_data, load_samples

    graph = load_model(model)
    samples = load_samples(graph, source, limit=limit)
    x, y = samples.x, samples.y
    calib_x = None
    if dtype == "int8":
        calib_x, _ = load_eval_data(graph, calib or default_calib(graph), labels=False)
    if not as_json:
        info(f"building {graph.name} ({dtype}) for {target} and running {len(x)} samples...")
    from ..targets import load_target, with_budget

    board = with_budget(load_target(target), flash_bytes, ram_bytes)
    rep = emulate_model(
        graph,
        board,
        x,
        y,
        dtype=dtype,
        calib_x=calib_x,
        per_channel=not per_tensor,
        fallback_host=fallback_host,
        parity=not production,
        force_ref=force_ref,
        sparse_format=sparse_format,
        keep_dir=keep,
    )
    if outputs_file is not None:
        from ..outputs import write_arrays

        write_arrays(
            outputs_file,
            {"outputs": rep.device_outputs, "inputs": rep.device_inputs},
            f"emulate {rep.dtype} outputs on {rep.ran_on}",
        )
    if as_json:
        emit_json("emulate", {**rep.to_dict(), "model_file": model, "data": samples.to_dict()})
    else:
        table(f"{graph.name} on {rep.target}", ["", "value"], [list(r) for r in rep.rows()])
    check_report(rep, max_disagreements if max_disagreements is not None or production else 0, min_accuracy)


def check_report(rep: EmulationReport, max_disagreements: int | None, min_accuracy: float | None) -> None:
    """CheckFailedError (exit 3) naming every gate the emulation report fails."""
    from ..errors import CheckFailedError

    failed = []
    if max_disagreements is not None and rep.disagreements > max_disagreements:
        failed.append(
            f"{rep.disagreements} of {rep.samples} samples disagree with numpy (at most {max_disagreements} allowed)"
        )
    if min_accuracy is not None:
        if rep.device_accuracy is None:
            failed.append("--min-accuracy needs labelled data, and these samples have no labels")
        elif rep.device_accuracy < min_accuracy:
            failed.append(f"device accuracy {rep.device_accuracy:.2%} is below {min_accuracy:.2%}")
    if failed:
        raise CheckFailedError(
            "check failed: " + "; ".join(failed), hint="the report above shows the measured figures (exit status 3)"
        )

"""`edgetrain export tflite` (a .tflite file, int8 or float32, written without TensorFlow and checked
in TensorFlow Lite Micro's interpreter when the `tflite-micro` package is installed) and
`edgetrain import tflite` (a .tflite model as an edgetrain model, its int8 quantization kept)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import click

from ..extras import require
from ..formats.modelfile import load_model, save_model
from . import options
from .app import export_group, import_group
from .commands_c import FORCE_HELP
from .output import emit_json, imported_summary, info, report_import, table

if TYPE_CHECKING:
    import numpy as np

    from ..graph import Graph
    from ..interop.tflite.export import TFLiteExport


@export_group.command("tflite")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The .tflite file to write.")
@options.dtype_option("int8: full-integer (int8 input and output); f32: float32.")
@click.option("--calib", help="int8 calibration data (default: the model's training split).")
@click.option("--per-tensor", is_flag=True, help="int8: one weight scale per layer (default: per channel).")
@click.option(
    "--check/--no-check",
    default=True,
    show_default=True,
    help="Run the model's test split in TFLite Micro's interpreter and compare with numpy.",
)
@click.option(
    "--compression",
    type=click.Choice(["none", "lut"]),
    default="none",
    show_default=True,
    help="lut: TFLite Micro's LUT compression of the clustered layers' int8 weights (value table + packed "
    "indices, decoded into the arena by its DECODE op; needs the tflite-micro package).",
)
@click.option("--force", is_flag=True, help=FORCE_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def export_tflite_cmd(
    model: str,
    output: str,
    dtype: options.DtypeChoice,
    calib: str | None,
    per_tensor: bool,
    check: bool,
    compression: Literal["none", "lut"],
    force: bool,
    as_json: bool,
) -> None:
    """Export MODEL as a .tflite flatbuffer (the same integer model as `export c --dtype int8`)."""
    require("tflite", "edgetrain export tflite")
    from ..interop.tflite import export_tflite
    from .commands_c import default_calib
    from .commands_core import load_eval_data

    graph = load_model(model)
    if compression == "lut" and dtype == "int8":  # refuse before loading the calibration data
        from ..interop.tflite.lut import check_lut_graph

        check_lut_graph(graph)
    calib_x = None
    if dtype == "int8" and (calib is not None or not _quantized(graph)):
        calib_x, _ = load_eval_data(graph, calib or default_calib(graph), labels=False)
    res = export_tflite(
        graph,
        output,
        dtype,
        calib_x=calib_x,
        per_channel=not per_tensor,
        force=force,
        protect=[model],
        compression=compression,
    )
    summary: dict = {
        "model": graph.name,
        "model_file": model,
        "output": str(res.path),
        "bytes": len(res.data),
        "dtype": dtype,
        "operators": list(res.operators),
        "compression": compression,
    }
    if res.lut:
        summary["lut_tensors"] = [dataclasses.asdict(t) for t in res.lut]
    source = (graph.meta.get("preprocess") or {}).get("source")
    if check and source:
        summary["tflite_micro_check"] = _check(res, graph, source, load_eval_data)
    if as_json:
        emit_json("export tflite", summary)
        return
    rows = [
        ["file", summary["output"]],
        ["bytes", summary["bytes"]],
        ["dtype", dtype],
        ["operators", ", ".join(res.operators)],
    ]
    for t in res.lut:
        rows.append(
            [f"lut {t.name}", f"{t.bits}-bit indices, {t.values} values: {t.dense_bytes:,} -> {t.lut_bytes:,} B"]
        )
    chk = summary.get("tflite_micro_check")
    if chk is not None:
        rows.append(["TFLite Micro vs numpy", chk["summary"]])
    table(f"exported {model} -> {output}", ["item", "value"], rows)


@import_group.command("tflite")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Model file (.etm) to write.")
@click.option("--name", help="Model name (default: the file name).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def import_tflite_cmd(file: str, output: str, name: str | None, as_json: bool) -> None:
    """Convert a .tflite FILE (int8 full-integer or float32) into an edgetrain model."""
    require("tflite", "edgetrain import tflite")
    from ..interop.tflite.importer import import_tflite

    graph = import_tflite(file, name=name)
    save_model(graph, output)
    report_import("import tflite", f"imported {file}", imported_summary(graph, file, output), as_json)


def _quantized(graph: Graph) -> bool:
    from ..quantize import has_quantization

    return has_quantization(graph)


def _check(
    res: TFLiteExport, graph: Graph, source: str, load_eval_data: Callable[..., tuple[np.ndarray, np.ndarray]]
) -> dict:
    """TFLite Micro's interpreter on the model's test split against the numpy reference (int8:
    bit for bit; float32: the largest difference), or why it did not run."""
    import numpy as np

    from ..interop.tflite.verify import run_tflite_micro, tflite_micro_available

    ok, why = tflite_micro_available()
    if not ok:
        info(f"TFLite Micro check skipped: {why}")
        return {"ran": False, "summary": f"not run ({why})"}
    x, _ = load_eval_data(graph, f"{source}:test", labels=True)
    got = run_tflite_micro(res.data, res.prepare_input(x))
    if res.qmodel is not None:
        from ..quantize.reference import int8_reference

        ref = int8_reference(res.qmodel, x)
        differ = int(np.count_nonzero(np.any(got.reshape(ref.shape) != ref, axis=1)))
        text = f"{len(x)} test samples, {differ} differ from the numpy int8 reference"
        return {"ran": True, "samples": len(x), "samples_differing": differ, "summary": text}
    from ..engine.executor import predict

    ref = predict(graph, x)
    diff = float(np.abs(got.reshape(ref.shape) - ref).max())
    return {
        "ran": True,
        "samples": len(x),
        "max_abs_diff": diff,
        "summary": f"{len(x)} test samples, max |diff| {diff:.2g}",
    }


__all__ = ["export_tflite_cmd", "import_tflite_cmd"]

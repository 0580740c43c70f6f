"""C firmware export: const arrays + a straight-line schedule of runtime calls + a memory plan.

    from edgetrain.export.c import export_c
    res = export_c(graph, "stm32f405", "out/model_c", dtype="int8", calib_x=x_train)
    res.report.to_dict(); res.qmodel  # QuantizedModel (int8), the bit-exact numpy contract

Output directory (written by `edgetrain.outputs`: atomically, and only over an earlier edgetrain
output or an empty directory unless ``force``)::

    model.h  model.c            et_model_infer(input, output), I/O macros, arena
    model_data.h  model_data.c  const aligned weights / biases / multipliers
    runtime/include/*.h  runtime/src/*.c   the runtime sources this model needs
    edgetrain_model.mk  CMakeLists.txt     fragments for a board project
    memory_report.json

The budget is checked before anything is written: a model that does not fit the target raises
BudgetExceededError and leaves no directory behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ...errors import ConfigError
from ...graph import Graph
from ...outputs import write_directory
from ...quantize import QuantizedModel, from_graph, has_quantization, quantize_model
from ...resources import firmware_dir
from ...targets import Target, load_target
from ...transforms.reorder import sort_units_by_fan_in
from . import emit
from .naming import apply_name, check_name
from .program import Program, build_program
from .project import MAX_EXAMPLES, ProjectKind, project_files
from .project import check_kind as check_project
from .readme import render_readme
from .report import MemoryReport, check_budget, memory_report
from .sparse import SparseOption, wants_sorted_units

MODEL_FILES = ("model.h", "model.c", "model_data.h", "model_data.c", "model_input.c")


@dataclass(frozen=True)
class ExportResult:
    """What `export_c` wrote and computed: the directory, its files, the memory report, the
    program, the int8 model (None for float32) and the target it was checked against."""

    out_dir: Path
    files: tuple[Path, ...]  # relative to out_dir
    report: MemoryReport
    program: Program
    qmodel: QuantizedModel | None
    target: Target

    @property
    def dtype(self) -> str:
        """The exported element type, "f32" or "int8"."""
        return self.program.dtype

    @property
    def input_dtype(self) -> type:
        """The numpy dtype of the C model's input (and output): int8 for an int8 export, else float32."""
        return np.int8 if self.program.dtype == "int8" else np.float32

    output_dtype = input_dtype

    def prepare_input(self, x_float: ArrayLike) -> np.ndarray:
        """Float samples (standardised, as the model was trained on) -> the input the C model
        takes (quantized for int8)."""
        if self.qmodel is not None:
            return self.qmodel.quantize_input(x_float)
        return np.ascontiguousarray(np.asarray(x_float, np.float32))

    def input_from_raw(self, raw: ArrayLike) -> np.ndarray:
        """Raw samples (the units of the training data) -> the C model's input: what
        ``et_model_input_from_raw`` computes on the device, bit for bit."""
        x = np.asarray(raw, np.float32)
        x = x.reshape(len(x), -1)
        stats = self.program.standardisation
        if stats is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                x = (x - stats[0]) / stats[1]  # float32 arithmetic, as apply_preprocess
        return self.prepare_input(x.reshape(len(x), *self.program.input_shape))


def prepare_model(
    graph: Graph,
    target: Target | str,
    dtype: Literal["f32", "int8"] = "int8",
    calib_x: ArrayLike | None = None,
    per_channel: bool = True,
    *,
    method: Literal["minmax", "percentile"] = "minmax",
    percentile: float = 99.99,
    qmodel: QuantizedModel | None = None,
    force_ref: bool = False,
    sparse_format: SparseOption = None,
) -> tuple[Program, MemoryReport, Target]:
    """Everything export_c computes before writing: program, memory report, budget check."""
    target = load_target(target) if isinstance(target, str) else target
    if qmodel is None and not has_quantization(graph) and wants_sorted_units(sparse_format):
        graph = sort_units_by_fan_in(graph)  # same function; gives the grouped kernels long runs
    if dtype == "int8" and qmodel is None:
        if calib_x is not None:
            qmodel = quantize_model(graph, calib_x, per_channel=per_channel, method=method, percentile=percentile)
        elif has_quantization(graph):
            qmodel = from_graph(graph)
        else:
            raise ConfigError(
                "int8 export needs calibration data (calib_x / --calib) or a model "
                "that already carries int8 quantization",
                hint='pass calibration samples (--calib DATA[:split]), or export float32 (dtype="f32" / --dtype f32)',
            )
    program = build_program(
        graph, dtype, qmodel if dtype == "int8" else None, force_ref=force_ref, sparse_format=sparse_format
    )
    report = memory_report(program, target)
    check_budget(report)
    return program, report, target


def export_c(
    graph: Graph,
    target: Target | str,
    out_dir: str | Path,
    dtype: Literal["f32", "int8"] = "int8",
    calib_x: ArrayLike | None = None,
    per_channel: bool = True,
    *,
    method: Literal["minmax", "percentile"] = "minmax",
    percentile: float = 99.99,
    qmodel: QuantizedModel | None = None,
    force_ref: bool = False,
    sparse_format: SparseOption = None,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    project: ProjectKind | None = None,
    example_x: ArrayLike | None = None,
    name: str | None = None,
) -> ExportResult:
    """Generate the model's C sources for ``target`` into ``out_dir``.

    ``project`` ("make" or "cmake") adds a ready-to-build firmware project (`project`): an example
    application classifying ``example_x`` (standardised float samples; default: the calibration
    samples, else zeros), start-up code, linker script and build files. Every export has a README.
    ``name`` prefixes every generated symbol, macro and file (`naming`; default: model.h,
    ``et_model_infer``), so several models link into one firmware.

    ``out_dir`` is replaced atomically when it is new, empty or an earlier edgetrain output; a
    directory holding other files is refused unless ``force`` (then edgetrain's files are added
    beside them; none of them is overwritten or deleted); a directory holding one of the
    ``protect`` paths (the command's inputs) is always refused. See `edgetrain.outputs`.

    int8 needs ``calib_x`` (float samples, standardised like the training data), or a graph
    already quantized (``quantize_model(...).graph``, also after save/load), or ``qmodel``.
    ``force_ref`` makes the generated code always call the reference kernels (otherwise a build
    may choose them with ``-DET_FORCE_REF``).

    Masked dense layers are stored in their smallest sparse format (``sparse_format="auto"``, the
    default) and run by the matching sparse kernel (motif layers by the motif kernel);
    ``sparse_format="fast"`` picks the fastest kernel instead (float32: row-grouped CSR on hidden
    units sorted by fan-in; int8: input-driven CSC; dense above 50% density; see bench/sparse.py);
    a format name forces that format, for every masked layer (``"csr"``) or per layer
    (``{"dense1": "bitmap"}``); see `edgetrain.export.c.sparse`.
    """
    target = load_target(target) if isinstance(target, str) else target
    check_project(project, target)
    c_name = check_name(name)
    program, report, target = prepare_model(
        graph,
        target,
        dtype,
        calib_x,
        per_channel,
        method=method,
        percentile=percentile,
        qmodel=qmodel,
        force_ref=force_ref,
        sparse_format=sparse_format,
    )
    files = _render(program, report)
    files[Path("README.md")] = render_readme(program, report, target, project).encode()
    if project is not None:
        files.update(
            _project(
                graph,
                program,
                target,
                project,
                example_x if example_x is not None else calib_x,
                files[Path("CMakeLists.txt")],
            )
        )
    files = apply_name(files, c_name)
    write_atomically(Path(out_dir), files, force=force, protect=protect)
    return ExportResult(Path(out_dir), tuple(sorted(files)), report, program, program.qmodel, target)


def _project(
    graph: Graph, program: Program, target: Target, kind: ProjectKind, example_x: ArrayLike | None, library_cmake: bytes
) -> dict[Path, bytes]:
    """The project files, the example samples classified by the numpy reference of this export."""
    if example_x is None:
        x = np.zeros((1, *program.input_shape), np.float32)
    else:
        x = np.asarray(example_x, np.float32)[:MAX_EXAMPLES]
        x = x.reshape(len(x), *program.input_shape)
    inputs: np.ndarray
    if program.qmodel is not None:
        from ...quantize.reference import int8_reference

        inputs = program.qmodel.quantize_input(x)
        scores = int8_reference(program.qmodel, x)
    else:
        from ...engine.executor import predict

        inputs, scores = x, predict(graph, x)
    classes = np.asarray(scores).reshape(len(x), -1).argmax(axis=1)
    # cmake: the project's CMakeLists.txt replaces the library's, which becomes edgetrain_model.cmake
    return project_files(program, target, kind, inputs, classes, library_cmake.decode())


def _render(program: Program, report: MemoryReport) -> dict[Path, bytes]:
    fw = firmware_dir()
    files: dict[Path, bytes] = {
        Path("model.h"): emit.render_model_h(program).encode(),
        Path("model.c"): emit.render_model_c(program).encode(),
        Path("model_data.h"): emit.render_model_data_h(program).encode(),
        Path("model_data.c"): emit.render_model_data_c(program).encode(),
        Path("model_input.c"): emit.render_model_input_c(program).encode(),
    }
    for f in emit.runtime_files(program, fw):
        sub = "include" if f.parent.name == "include" else "src"
        files[Path("runtime") / sub / f.name] = f.read_bytes()
    files.update(emit.build_fragments(files))
    files[Path("memory_report.json")] = (json.dumps(report.to_dict(), indent=2) + "\n").encode()
    return files


def write_atomically(
    out_dir: Path, files: dict[Path, bytes], *, force: bool = False, protect: Iterable[str | os.PathLike[str]] = ()
) -> None:
    """Write ``files`` (relative path -> bytes) as the output directory ``out_dir``.

    A thin wrapper of `edgetrain.outputs.write_directory`: the new tree is complete before it
    replaces an earlier edgetrain output; on any error ``out_dir`` is untouched."""
    write_directory(out_dir, files, force=force, protect=protect)


__all__ = ["ExportResult", "MemoryReport", "Program", "export_c", "prepare_model", "write_atomically"]

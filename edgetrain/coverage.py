"""The backend-coverage contract: every op kind x every parameter attachment x every backend.

Each cell builds a tiny model (input 8, hidden 6, 4 classes) around one op kind, puts one
attachment on the dense parameter next to it, runs one backend and compares with the numpy engine.
Ops on channels-last samples (convolutions, pooling) read the hidden layer reshaped to (3, 2, 1)
(H, W, C) or (3, 2) (L, C); `tiny_model` lists the recipes.
A cell ends in one of:

* ``agrees``   the backend ran and matched numpy (float: 1e-5; int8: bit-exact vs the int8 reference;
  training: losses and updated parameters after a few steps);
* ``refuses``  the backend raised an `EdgetrainError` with a non-empty hint (an honest "not supported");
* ``skipped``  a tool the backend needs (gcc, onnxruntime-training) is missing here;
* ``disagrees`` it ran but gave another answer (a silent wrong answer: a bug);
* ``error``    it crashed with a non-edgetrain exception, or an edgetrain error without a hint, or a
  C build failure (generated code that does not compile is a bug, not a refusal).

Op kinds are read from `edgetrain.ops.OPS` at run time, so a new op appears in the matrix by itself.

    rows = run_matrix()                      # [Row(op, attachment, backend, status, detail), ...]
    python -m edgetrain.coverage             # print the matrix summary
    python -m edgetrain.coverage --readme    # rewrite README.md's "Supported" coverage section
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol

import numpy as np
from numpy.typing import ArrayLike

from .errors import EdgetrainError, ToolchainError
from .graph import Graph, Node, Param

if TYPE_CHECKING:
    from .targets import Target

N_IN, HIDDEN, N_OUT, SAMPLES, BATCH = 8, 6, 4, 8, 4
LR = 0.05
TOL = 1e-5
ATTACHMENTS = ("none", "mask", "codebook", "motif", "qparams", "frozen")
BACKENDS = (
    "numpy",
    "onnx_inference",
    "onnx_train_step",
    "ort_artifacts",
    "onnx_import",
    "tflite_f32",
    "tflite_int8",
    "c_f32",
    "c_int8",
    "c_train_head",
    "c_train_body",
)
C_BACKENDS = ("c_f32", "c_int8", "c_train_head", "c_train_body")  # need host gcc
BACKEND_TITLES = {
    "numpy": "numpy",
    "onnx_inference": "ONNX inference",
    "onnx_train_step": "ONNX train step",
    "ort_artifacts": "ORT artifacts",
    "onnx_import": "ONNX import",
    "c_f32": "C f32",
    "c_int8": "C int8",
    "c_train_head": "C train (head)",
    "c_train_body": "C train (frozen body)",
    "tflite_f32": "TFLite f32",
    "tflite_int8": "TFLite int8",
}
STATUSES = ("agrees", "refuses", "skipped", "disagrees", "error")
OK_STATUSES = ("agrees", "refuses", "skipped")
README_BEGIN, README_END = "<!-- supported:begin -->", "<!-- supported:end -->"


class Row(NamedTuple):
    """The outcome of one cell: its op kind, attachment and backend, a status of `STATUSES` and
    a one-line detail (the backend's answer, or the exception that ended the cell)."""

    op: str
    attachment: str
    backend: str
    status: str
    detail: str


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: an op kind, an attachment of `ATTACHMENTS` and a backend of `BACKENDS`."""

    op: str
    attachment: str
    backend: str


class Disagrees(Exception):
    """A backend ran but its answer differs from numpy's."""


class Skip(Exception):
    """A tool the backend needs is missing."""


def op_kinds() -> list[str]:
    """The op kinds registered in `edgetrain.ops.OPS` right now, in registration order."""
    from .ops import OPS

    return list(OPS)


def cells() -> list[Cell]:
    """Every cell of the matrix: each op kind by each attachment by each backend."""
    return [Cell(op, a, b) for op in op_kinds() for a in ATTACHMENTS for b in BACKENDS]


CELLS = cells  # CELLS() lists the matrix for the op kinds registered right now


# ---------------------------------------------------------------- tiny models


def data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The matrix's fixed samples for ``seed``: float32 inputs of shape (SAMPLES, N_IN) and int64
    labels in [0, N_OUT)."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(SAMPLES, N_IN)).astype(np.float32), rng.integers(0, N_OUT, SAMPLES).astype(np.int64)


def _dense(g: Graph, rng: np.random.Generator, name: str, src: str, n_in: int, n_out: int) -> Node:
    lim = np.sqrt(6.0 / n_in)
    g.add_param(Param(f"{name}.weight", rng.uniform(-lim, lim, (n_in, n_out))))
    g.add_param(Param(f"{name}.bias", rng.uniform(-0.1, 0.1, n_out)))
    return g.add_node(Node(name, "dense", [src], {"weight": f"{name}.weight", "bias": f"{name}.bias"}))


# The channels-last ops: the sample shape the hidden layer is reshaped to, the op's attributes and
# its parameters (role -> shape) for a tiny model.
SPATIAL_2D, SPATIAL_1D = (3, 2, 1), (3, 2)
SPATIAL_RECIPES: dict[str, tuple[tuple[int, ...], dict, dict[str, tuple[int, ...]]]] = {
    "conv2d": (SPATIAL_2D, {"padding": "same"}, {"weight": (2, 2, 1, 2), "bias": (2,)}),
    "conv1d": (SPATIAL_1D, {"padding": "same"}, {"weight": (2, 2, 3), "bias": (3,)}),
    "max_pool": (SPATIAL_2D, {"pool": 2, "padding": "same"}, {}),
    "avg_pool": (SPATIAL_2D, {"pool": 2, "padding": "same"}, {}),
    "global_avg_pool": ((3, 1, 2), {}, {}),
    "batch_norm": ((HIDDEN,), {}, {"scale": (HIDDEN,), "bias": (HIDDEN,), "mean": (HIDDEN,), "var": (HIDDEN,)}),
    "reshape": ((HIDDEN,), {"shape": list(SPATIAL_1D)}, {}),
}


def _shape_of(g: Graph, tensor: str) -> tuple[int, ...]:
    """The sample shape of ``tensor`` in a graph under construction (its outputs not set yet)."""
    g.outputs = [tensor]
    return g.shapes()[tensor]


def _spatial_op(g: Graph, rng: np.random.Generator, op: str, h: str) -> str:
    """``h`` (HIDDEN wide) through the op's recipe, flattened again for the classifier."""
    shape, attrs, params = SPATIAL_RECIPES[op]
    if len(shape) > 1:
        h = g.add_node(Node("to_spatial", "reshape", [h], attrs={"shape": list(shape)})).name
    roles = {}
    for role, pshape in params.items():
        value = rng.uniform(0.5, 1.5, pshape) if role == "var" else rng.uniform(-0.5, 0.5, pshape)
        roles[role] = g.add_param(Param(f"{op}_op.{role}", value, trainable=role not in ("mean", "var"))).name
    h = g.add_node(Node(f"{op}_op", op, [h], roles, attrs=dict(attrs))).name
    if len(_shape_of(g, h)) > 1:
        h = g.add_node(Node("to_flat", "flatten", [h])).name
    return h


def tiny_model(op: str, seed: int = 0) -> tuple[Graph, str]:
    """``input(8) -> dense1(6) -> <op> -> dense2(4)`` and the dense layer the attachment goes on
    (the op itself for ``dense``, else dense1). Two-input ops add a residual branch dense_r(h);
    channels-last ops sit between a reshape and a flatten (`SPATIAL_RECIPES`)."""
    from .errors import UnsupportedOpError
    from .ops import get_op

    kind = get_op(op)
    rng = np.random.default_rng(seed)
    g = Graph({"input": (N_IN,)}, name=f"cov_{op}")
    h = _dense(g, rng, "dense1", "input", N_IN, HIDDEN).name
    target = "dense1"
    if op == "dense":
        h = target = _dense(g, rng, "dense_op", h, HIDDEN, HIDDEN).name
    elif op in SPATIAL_RECIPES:
        h = _spatial_op(g, rng, op, h)
    elif kind.param_roles:
        raise UnsupportedOpError(
            f"coverage has no tiny-model recipe for op {op!r} with parameters",
            hint="teach edgetrain.coverage.tiny_model to build it",
        )
    elif kind.n_inputs == 2:
        r = _dense(g, rng, "dense_r", h, HIDDEN, HIDDEN).name
        h = g.add_node(Node(f"{op}_op", op, [h, r])).name
    elif kind.n_inputs == 1:
        h = g.add_node(Node(f"{op}_op", op, [h])).name
    else:
        raise UnsupportedOpError(
            f"coverage has no tiny-model recipe for {kind.n_inputs}-input op {op!r}",
            hint="teach edgetrain.coverage.tiny_model to build it",
        )
    out = _dense(g, rng, "dense2", h, _shape_of(g, h)[0], N_OUT).name
    g.outputs = [out]
    g.validate()
    return g, target


def attach(g: Graph, target: str, attachment: str, calib_x: np.ndarray) -> Graph:
    """Give ``g``'s layer ``target`` the ``attachment`` (mask, codebook, motif, qparams, frozen or
    none) and return the graph (a new, quantized one for qparams); ValueError for an unknown
    attachment."""
    p = g.params[f"{target}.weight"]
    rng = np.random.default_rng(7)
    if attachment == "mask":
        p.mask = rng.random(p.shape) < 0.6
        p.mask[0] = True  # no all-zero column
        p.apply_constraints()
    elif attachment == "codebook":
        p.codebook = np.linspace(p.value.min(), p.value.max(), 4).astype(np.float32)
        p.indices = np.abs(p.value[..., None] - p.codebook).argmin(-1)
        p.apply_constraints()
    elif attachment == "motif":
        from .techniques.motif import apply_motif

        apply_motif(g, m=2, eps=1.0, layers=[target], seed=0)
    elif attachment == "qparams":
        from .quantize import quantize_model

        g = quantize_model(g, calib_x).graph
    elif attachment == "frozen":
        p.trainable = False
        g.params[f"{target}.bias"].trainable = False
    elif attachment != "none":
        raise ValueError(f"unknown attachment {attachment!r}")
    return g


def build(op: str, attachment: str) -> Graph:
    """The tiny model of ``op`` with ``attachment`` on its target layer."""
    x, _ = data()
    g, target = tiny_model(op)
    return attach(g, target, attachment, x)


# ---------------------------------------------------------------- backends


def _close(got: ArrayLike, want: ArrayLike, what: str, tol: float = TOL) -> None:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise Disagrees(f"{what}: shape {got.shape} vs numpy {want.shape}")
    err = float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)))) if got.size else 0.0
    if not err <= tol:
        raise Disagrees(f"{what}: max scaled |diff| {err:.3g} > {tol:g}")


class _OnnxModel(Protocol):
    """An onnx ModelProto, as far as `_session` uses it."""

    def SerializeToString(self) -> bytes: ...  # protobuf's method name


def _session(model: _OnnxModel) -> Any:  # an onnxruntime.InferenceSession (onnxruntime is untyped)
    try:
        import onnxruntime as ort
    except ImportError:
        raise Skip("onnxruntime is not installed") from None
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def run_numpy(g: Graph) -> str:
    """Run the numpy engine on the matrix data; Disagrees when an output is not finite."""
    from .engine.executor import predict

    out = predict(g, data()[0])
    if not np.isfinite(out).all():
        raise Disagrees("numpy output is not finite")
    return "reference"


def run_onnx_inference(g: Graph) -> str:
    """Compare onnxruntime on the exported inference model with the numpy engine; Disagrees when
    they differ."""
    from .engine.executor import predict
    from .interop.onnx import build_inference_model

    x = data()[0]
    got = _session(build_inference_model(g)).run(None, {"input": x})[0]
    _close(got, predict(g, x), "onnxruntime vs numpy")
    return ""


def run_onnx_import(g: Graph) -> str:
    """Export ``g`` to ONNX, import it back and compare its predictions with ``g``'s; Disagrees when
    they differ."""
    from .engine.executor import predict
    from .interop.onnx import build_inference_model
    from .interop.onnx.importer import import_onnx

    x = data()[0]
    _close(predict(import_onnx(build_inference_model(g)), x), predict(g, x), "imported model vs numpy")
    return ""


def run_onnx_train_step(g: Graph) -> str:
    """Run the exported ONNX train step (SGD with momentum) over the matrix data and compare each
    batch's loss and the final parameters with the numpy Trainer's; Disagrees when they differ."""
    from .engine.optim import SGD
    from .engine.trainer import Trainer
    from .interop.onnx import build_train_step

    x, y = data()
    ts = build_train_step(g, "sgd", lr=LR, momentum=0.9)
    sess = _session(ts.model)
    names = [o.name for o in sess.get_outputs()]
    ref = g.copy()
    trainer = Trainer(ref, SGD(LR, momentum=0.9), progress=False)
    state = dict(ts.initial_state)
    for s in range(0, SAMPLES, BATCH):
        xb, yb = x[s : s + BATCH], y[s : s + BATCH]
        out = dict(zip(names, sess.run(None, ts.feeds(xb, yb, LR, state))))
        state = ts.next_state(out)
        _close(out["loss"], trainer.train_step(xb, yb), "train-step loss")
    for name in ts.trainable:
        _close(state[name], ref.params[name].storage(), f"train-step {name}")
    return ""


def run_ort_artifacts(g: Graph) -> str:
    """Train one epoch with exported ORT training artifacts and compare the weights with `fit` on a
    copy; Skip when onnxruntime-training is not available, Disagrees when they differ."""
    from .engine.optim import SGD
    from .engine.trainer import fit
    from .interop.onnx import export_ort_artifacts, ort_train
    from .interop.onnx.ort_training import load_ort_training

    try:
        load_ort_training()
    except ToolchainError as e:
        raise Skip(str(e)) from None
    x, y = data()
    with tempfile.TemporaryDirectory(prefix="edgetrain-cov-ort-") as d:
        export_ort_artifacts(g, Path(d) / "art", optimizer="sgd")
        res = ort_train(Path(d) / "art", x, y, epochs=1, batch_size=BATCH, lr=LR, seed=0)
    ref = g.copy()
    fit(ref, (x, y), epochs=1, batch_size=BATCH, optimizer=SGD(LR), seed=0)
    for name, p in ref.params.items():
        _close(res.graph.params[name].value, p.value, f"ORT-trained {name}", tol=1e-4)
    return ""


def run_tflite(g: Graph, dtype: Literal["f32", "int8"]) -> str:
    """The .tflite export in TensorFlow Lite Micro's interpreter: float32 within 1e-5 of numpy,
    int8 equal to the numpy int8 reference."""
    from .interop.tflite import build_tflite
    from .interop.tflite.verify import run_tflite_micro, tflite_micro_available
    from .quantize.reference import int8_reference

    ok, why = tflite_micro_available()
    if not ok:
        raise Skip(why)
    x, _ = data()
    res = build_tflite(g, dtype, calib_x=x if dtype == "int8" else None)
    got = run_tflite_micro(res.data, res.prepare_input(x))
    if res.qmodel is not None:
        ref = int8_reference(res.qmodel, x)
        if not np.array_equal(got.reshape(ref.shape), ref):
            raise Disagrees(
                f"TFLite Micro int8: {int(np.count_nonzero(got.reshape(ref.shape) != ref))} outputs "
                "differ from the numpy int8 reference"
            )
        return ""
    _close(got.reshape(len(x), -1), _predict(g, x).reshape(len(x), -1), "TFLite Micro float32")
    return ""


def _need_gcc() -> None:
    if shutil.which("gcc") is None:
        raise Skip("gcc not found (Debian package: gcc)")


def _run_c(g: Graph, dtype: Literal["f32", "int8"]) -> str:
    _need_gcc()
    return _once((dtype, _fingerprint(g)), lambda: _emulate_and_compare(g, dtype))


def _emulate_and_compare(g: Graph, dtype: Literal["f32", "int8"]) -> str:
    from .device.verify import emulate_model

    x, y = data()
    rep = emulate_model(g, _host_target(), x, y, dtype=dtype, calib_x=x)
    if (
        rep.disagreements
        or (dtype == "int8" and rep.max_abs_diff != 0)
        or (dtype == "f32" and not rep.max_abs_diff <= 1e-5 * max(1.0, float(np.abs(_predict(g, x)).max())))
    ):
        raise Disagrees(
            f"C {dtype}: {rep.disagreements} of {rep.samples} samples disagree, max |diff| {rep.max_abs_diff:.3g}"
        )
    return ""


def _host_target() -> Target:
    from .targets import load_target

    return load_target("host")


@contextmanager
def _shared_object_cache() -> Iterator[None]:
    """Every C cell's build through one cache of compiled objects (the build's own,
    `edgetrain.device.build.CC_CACHE_ENV`): the cells' few hundred builds share the runtime's
    translation units, so each is compiled once per contents and flags, not once per cell. A cache
    already chosen (the test suite's, or an empty value: none) is used as it is; otherwise a
    temporary one, removed afterwards."""
    from .device.build import CC_CACHE_ENV

    if CC_CACHE_ENV in os.environ:
        yield
        return
    with tempfile.TemporaryDirectory(prefix="edgetrain-cov-cc-") as d:
        os.environ[CC_CACHE_ENV] = d
        try:
            yield
        finally:
            os.environ.pop(CC_CACHE_ENV, None)


def _predict(g: Graph, x: np.ndarray) -> np.ndarray:
    from .engine.executor import predict

    return predict(g, x)


def _run_c_train(g: Graph, part: str, attachment: str) -> str:
    from .layers import set_trainable

    _need_gcc()
    x, y = data()
    xs, ys = x.reshape(-1, BATCH, N_IN), y.reshape(-1, BATCH).astype(np.int32)
    g = g.copy()
    if part == "body":  # the op sits in the frozen prefix; only the classifier trains
        set_trainable(g, "last:1")
    elif attachment != "frozen":  # the op sits in the trainable part
        for p in g.params.values():
            p.trainable = True
    body: Literal["int8", "f32"] = "int8" if attachment == "qparams" else "f32"
    return _once(("c_train", body, _fingerprint(g)), lambda: _finetune_and_compare(g, body, x, xs, ys))


def _fingerprint(g: Graph) -> bytes:
    """Everything a backend can read from a graph: equal fingerprints run the same build once
    (e.g. a frozen-body cell whose attachment was ``frozen`` equals the plain one)."""
    return pickle.dumps(
        (
            g.inputs,
            g.outputs,
            [(n.name, n.op, n.inputs, n.params, sorted(n.attrs.items())) for n in g.nodes],
            g.params,
            sorted(map(str, g.meta.items())),
        )
    )


_memo: dict[object, str | Exception] = {}  # a backend's detail, or what it raised
_memo_locks: dict[object, threading.Lock] = {}
_memo_guard = threading.Lock()


def _once(key: object, fn: Callable[[], str]) -> str:
    with _memo_guard:
        lock = _memo_locks.setdefault(key, threading.Lock())
    with lock:
        if key not in _memo:
            try:
                _memo[key] = fn()
            except Exception as e:  # noqa: BLE001 - kept and re-raised to every cell that shares the build
                _memo[key] = e
    value = _memo[key]
    if isinstance(value, Exception):
        raise value
    return value


def _finetune_and_compare(g: Graph, body: Literal["int8", "f32"], x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> str:
    from .device.finetune import finetune_on_device, reference_finetune, reference_logits

    rep = finetune_on_device(
        g,
        _host_target(),
        batches=(xs, ys),
        trainable=None,
        batch=BATCH,
        optimizer="sgd",
        lr=LR,
        momentum=0.9,
        body=body,
        calib_x=x,
    )
    ref = reference_finetune(rep.program, xs, ys)
    for k, v in ref.weights.items():
        _close(rep.weights[k], v, f"C-trained {k}")
    _close(rep.loss_curve, ref.losses, "C training losses")
    if rep.diverged_steps:
        raise Disagrees(f"C training flagged {rep.diverged_steps} diverged steps")
    _close(rep.logits_after, reference_logits(rep.program, x, ref.head), "C logits after training", tol=1e-4)
    return ""


RUNNERS: dict[str, Callable[[Graph, str], str]] = {
    "numpy": lambda g, a: run_numpy(g),
    "onnx_inference": lambda g, a: run_onnx_inference(g),
    "onnx_train_step": lambda g, a: run_onnx_train_step(g),
    "ort_artifacts": lambda g, a: run_ort_artifacts(g),
    "onnx_import": lambda g, a: run_onnx_import(g),
    "tflite_f32": lambda g, a: run_tflite(g, "f32"),
    "tflite_int8": lambda g, a: run_tflite(g, "int8"),
    "c_f32": lambda g, a: _run_c(g, "f32"),
    "c_int8": lambda g, a: _run_c(g, "int8"),
    "c_train_head": lambda g, a: _run_c_train(g, "head", a),
    "c_train_body": lambda g, a: _run_c_train(g, "body", a),
}

_TMP = re.compile(r"/tmp/[^\s'\"]*")


def _clean(text: str) -> str:
    """One deterministic line: temp paths elided, whitespace collapsed, length capped."""
    text = " ".join(_TMP.sub("<tmp>", str(text)).split())
    return text if len(text) <= 160 else text[:157] + "..."


def classify(exc: BaseException) -> tuple[str, str]:
    """The status and detail of a cell that raised ``exc``: skipped, disagrees, refuses (an
    EdgetrainError with a hint) or error (anything else, including a toolchain failure or an error
    without a hint)."""
    if isinstance(exc, Skip):
        return "skipped", _clean(str(exc))
    if isinstance(exc, Disagrees):
        return "disagrees", _clean(str(exc))
    if isinstance(exc, ToolchainError):  # a build or run failure of generated code is a bug
        return "error", _clean(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, EdgetrainError):
        if not (exc.hint or "").strip():
            return "error", _clean(f"{type(exc).__name__} without a hint: {exc}")
        return "refuses", _clean(f"{type(exc).__name__}: {exc}")
    return "error", _clean(f"{type(exc).__name__}: {exc}")


def run_cell(cell: Cell, model: Graph | BaseException | None = None) -> Row:
    """Run one cell on ``model`` (default: built from the cell; an exception stands for a build that
    failed) and classify the outcome; never raises."""
    try:
        g = build(cell.op, cell.attachment) if model is None else model
        if isinstance(g, BaseException):
            raise g
        detail = RUNNERS[cell.backend](g.copy(), cell.attachment)
        return Row(cell.op, cell.attachment, cell.backend, "agrees", detail)
    except Exception as e:  # noqa: BLE001 - the contract: classify every outcome
        status, detail = classify(e)
        return Row(cell.op, cell.attachment, cell.backend, status, detail)


def run_matrix(selected: list[Cell] | None = None, workers: int | None = None) -> list[Row]:
    """Run every cell (default: `cells()`); rows come back in cell order.

    Python-side backends run one after another (ORT artifact generation redirects the process's
    stderr); the C backends, which spend their time in gcc and the built program, run on
    ``workers`` threads (default: 2, or ``EDGETRAIN_COVERAGE_WORKERS``), every build through one
    cache of compiled objects (`_shared_object_cache`): each cell still builds and runs its own program.
    """
    selected = cells() if selected is None else selected
    _memo.clear()
    _memo_locks.clear()
    workers = workers or int(os.environ.get("EDGETRAIN_COVERAGE_WORKERS", "2"))
    with _shared_object_cache() if any(c.backend in C_BACKENDS for c in selected) else nullcontext():
        return _run_cells(selected, workers)


def _run_cells(selected: list[Cell], workers: int) -> list[Row]:
    models: dict[tuple[str, str], Graph | BaseException] = {}
    for c in selected:
        key = (c.op, c.attachment)
        if key not in models:
            try:
                models[key] = build(*key)
            except Exception as e:  # noqa: BLE001 - the build's failure is its cells' outcome (run_cell classifies it)
                models[key] = e
    results: dict[int, Row] = {}
    c_idx = [i for i, c in enumerate(selected) if c.backend in C_BACKENDS]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {
            i: pool.submit(run_cell, selected[i], models[(selected[i].op, selected[i].attachment)]) for i in c_idx
        }
        for i, c in enumerate(selected):
            if c.backend not in C_BACKENDS:
                results[i] = run_cell(c, models[(c.op, c.attachment)])
        for i, f in futures.items():
            results[i] = f.result()
    return [results[i] for i in range(len(selected))]


# ---------------------------------------------------------------- README section


def counts(rows: list[Row]) -> dict[str, dict[str, int]]:
    """Per backend, how many rows have each status (every status present, zero when none)."""
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r.backend, dict.fromkeys(STATUSES, 0))[r.status] += 1
    return out


def render_table(rows: list[Row]) -> str:
    """Markdown: one row per op (attachment "none"), plus a row per attachment whose cells differ
    from it; ✓ agrees with numpy, ✗ refused (reason in the numbered notes), ? anything else."""
    by = {(r.op, r.attachment, r.backend): r for r in rows}
    ops = list(dict.fromkeys(r.op for r in rows))
    backends = [b for b in BACKENDS if any(r.backend == b for r in rows)]
    notes: dict[str, int] = {}

    def mark(r: Row) -> str:
        if r.status == "agrees":
            return "✓"
        n = notes.setdefault(r.detail, len(notes) + 1)
        return ("✗" if r.status == "refuses" else f"? {r.status}") + f" [{n}]"

    lines = [
        "| op kind | attachment | " + " | ".join(BACKEND_TITLES[b] for b in backends) + " |",
        "|---|---|" + "---|" * len(backends),
    ]
    for op in ops:
        base = (
            tuple(by[(op, "none", b)].status for b in backends)
            if all((op, "none", b) in by for b in backends)
            else None
        )
        for a in ATTACHMENTS:
            if any((op, a, b) not in by for b in backends):
                continue
            cells_ = [by[(op, a, b)] for b in backends]
            key = tuple(c.status for c in cells_)
            if (
                a != "none"
                and key == base
                and all(c.detail == by[(op, "none", b)].detail for c, b in zip(cells_, backends))
            ):
                continue
            lines.append(f"| {op} | {a} | " + " | ".join(mark(c) for c in cells_) + " |")
    total = counts(rows)
    lines += [
        "",
        "Cells per backend (agree / refuse): "
        + ", ".join(f"{BACKEND_TITLES[b]} {total[b]['agrees']}/{total[b]['refuses']}" for b in backends)
        + ".",
    ]
    if notes:
        lines += [""] + [f"{n}. {text.replace('|', '/')}" for text, n in notes.items()]
    return "\n".join(lines)


def render_section(rows: list[Row]) -> str:
    """The README's coverage section: the table of ``rows`` between the begin and end markers."""
    return (
        f"{README_BEGIN}\n<!-- generated by `python -m edgetrain.coverage --readme`; do not edit -->\n\n"
        f"{render_table(rows)}\n\n{README_END}"
    )


def readme_with(text: str, rows: list[Row]) -> str:
    """``text`` with its coverage section replaced by the one of ``rows``; ValueError when the
    markers are missing or out of order."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {README_BEGIN} ... {README_END} markers")
    return text[:start] + render_section(rows) + text[end + len(README_END) :]


def main(argv: list[str] | None = None) -> int:
    """Run the matrix, print failures and per-backend counts, and with ``--readme`` rewrite the
    README's section; returns 0 when every cell agrees or refuses, 1 on a disagreement or error, 2
    when a skip prevents the rewrite."""
    ap = argparse.ArgumentParser(prog="python -m edgetrain.coverage", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--readme",
        nargs="?",
        const=str(Path(__file__).resolve().parent.parent / "README.md"),
        help="rewrite the coverage section of this README (default: the repository's)",
    )
    args = ap.parse_args(argv)
    rows = run_matrix()
    bad = [r for r in rows if r.status not in ("agrees", "refuses")]
    for r in bad:
        print(f"{r.status}: {r.op} / {r.attachment} / {r.backend}: {r.detail}", file=sys.stderr)
    for b, c in counts(rows).items():
        print(f"{b:16s} " + " ".join(f"{s} {n}" for s, n in c.items() if n))
    if args.readme:
        if any(r.status == "skipped" for r in rows):
            print("error: some cells were skipped (missing tools); not rewriting the README", file=sys.stderr)
            return 2
        path = Path(args.readme)
        path.write_text(readme_with(path.read_text(), rows))
        print(f"wrote {path}")
    return 1 if any(r.status in ("disagrees", "error") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

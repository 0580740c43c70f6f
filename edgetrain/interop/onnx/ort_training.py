"""ONNX Runtime on-device training: artifact generation and a trainer over its training API.

`onnxruntime/training/__init__.py` imports torch (in the pinned 1.19 release) although `artifacts` and
`api` do not need it. `load_ort_training` therefore registers a bare package object for
`onnxruntime.training` (with the real ``__path__``) and imports only those submodules.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import tempfile
import types
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ...deprecation import renamed_keyword, required_keyword
from ...engine.autodiff import derive_backward
from ...errors import ConfigError, DataError, ExportError, ModelFileError, ToolchainError
from ...formats.modelfile import load_model, save_model
from ...graph import Graph
from ...ops.pool import BN_MOMENTUM
from ...outputs import check_output_dir
from .common import IR_VERSION, atomic_directory
from .conv_emitters import batch_norms_training, batch_statistic_names
from .emitters import expand_hard_swish
from .inference import build_inference_model

LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("adamw", "sgd")
MANIFEST = "edgetrain_ort.json"
FILES = {
    "training": "training_model.onnx",
    "eval": "eval_model.onnx",
    "optimizer": "optimizer_model.onnx",
    "checkpoint": "checkpoint",
    "model": "model.etm",
}


def load_ort_training() -> tuple[types.ModuleType, types.ModuleType]:
    """Return ``(onnxruntime.training.artifacts, onnxruntime.training.api)`` without importing torch."""
    try:
        import onnxruntime
    except ImportError:
        raise ToolchainError(
            "onnxruntime is not installed", hint="pip install onnxruntime-training-cpu==1.19.2"
        ) from None
    if "onnxruntime.training" not in sys.modules:
        path = Path(onnxruntime.__file__).parent / "training"
        if not (path / "api").is_dir():
            raise ToolchainError(
                "this onnxruntime has no training support",
                hint="install onnxruntime-training-cpu (not plain onnxruntime)",
            )
        pkg = types.ModuleType("onnxruntime.training")
        pkg.__path__ = [str(path)]  # submodules resolve against the real folder
        pkg.__package__ = "onnxruntime.training"
        sys.modules["onnxruntime.training"] = pkg
        onnxruntime.training = pkg
    artifacts = importlib.import_module("onnxruntime.training.artifacts")
    api = importlib.import_module("onnxruntime.training.api")
    return artifacts, api


def export_ort_artifacts(
    graph: Graph,
    out_dir: str | Path | None = None,
    *,
    loss: str = "cross_entropy",
    optimizer: str = "adamw",
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    force: bool = False,
    **deprecated: Any,
) -> dict[str, Any]:
    """Write training, eval and optimizer models, checkpoint, `model.etm` and a manifest into `out_dir`.

    The trainable set is the model's own (parameters the derived backward schedule updates); every
    other parameter is frozen. Masked/clustered trainable weights keep their attachments in-graph.
    A batch_norm whose scale or bias trains normalises with batch statistics, which the models
    output for `ort_train` to update its running statistics (`running_statistics_of`).
    `out_dir` is written as an edgetrain output directory (`edgetrain.outputs`: atomically; a
    directory holding other files is refused unless ``force``). The old keyword ``directory``
    still works, with a DeprecationWarning.
    """
    directory = required_keyword("export_ort_artifacts", deprecated, "directory", "out_dir", out_dir)
    if loss not in LOSSES:
        raise ConfigError(f"unknown loss {loss!r} for ORT artifacts", hint=f"choose one of: {', '.join(LOSSES)}")
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown ORT optimizer {optimizer!r}", hint=f"choose one of: {', '.join(OPTIMIZERS)}")
    artifacts, _ = load_ort_training()
    from onnxruntime.training import onnxblock

    trainable = list(dict.fromkeys(derive_backward(graph).trainable))
    if not trainable:
        raise ExportError("the model has no trainable parameters", hint="mark some layers trainable (set_trainable)")
    # ORT 1.19's gradient builder has no HardSwish rule: spell it in Add/Clip/Mul/Div first.
    base = expand_hard_swish(build_inference_model(graph, trainable=set(trainable)))
    running = running_statistics_of(graph, base)
    stats = {e[k] for e in running for k in ("mean", "var")}  # not in the model: ort_train updates them
    frozen = [p for p in graph.params if p not in trainable and p not in stats]
    opt_block = (
        onnxblock.optim.AdamW(betas=betas, eps=eps, weight_decay=weight_decay)
        if optimizer == "adamw"
        else onnxblock.optim.SGD()
    )
    _quiet_ort()
    manifest = {
        "input": graph.input_name,
        "output": graph.output_name,
        "loss": loss,
        "optimizer": optimizer,
        "labels": "labels" if loss == "cross_entropy" else "target",
        "trainable": trainable,
        "frozen": frozen,
        "running_statistics": running,
        "files": FILES,
    }
    with atomic_directory(directory, force=force) as stage, _native_stderr_captured() as log:
        try:
            artifacts.generate_artifacts(
                base,
                requires_grad=trainable,
                frozen_params=frozen,
                loss=artifacts.LossType.CrossEntropyLoss if loss == "cross_entropy" else artifacts.LossType.MSELoss,
                optimizer=opt_block,
                artifact_directory=str(stage),
                additional_output_names=[e[k] for e in running for k in ("batch_mean", "batch_var")] or None,
            )
        except Exception as e:  # noqa: BLE001 (ORT raises RuntimeError / its own Fail types)
            raise ExportError(
                f"ONNX Runtime could not build training artifacts: {e}",
                hint=log.read_text()[-500:] if log.exists() else None,
            ) from None
        for key in ("training", "eval", "optimizer"):
            _pin_ir_version(stage / FILES[key])
        save_model(graph, stage / FILES["model"])
        (stage / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def running_statistics_of(graph: Graph, base: onnx.ModelProto) -> list[dict[str, Any]]:
    """The manifest entries of the batch_norm layers the artifacts train with batch statistics.

    ORT's training API feeds no state back and keeps non-trainable parameters fixed, so the
    artifacts cannot update a batch_norm's running statistics themselves. Instead the training
    (and eval) model outputs each such layer's batch mean and variance after the loss, and
    `ort_train` applies ``running = momentum * running + (1 - momentum) * batch`` after every
    step, exactly as the numpy training forward does (`engine.mode`, `ops.pool.BatchNormOp`).
    """
    tensors = {o for n in base.graph.node for o in n.output}
    entries = []
    for node in batch_norms_training(graph):
        mean, var = batch_statistic_names(node)
        if mean not in tensors or var not in tensors:  # the emitter and this list disagree: a bug
            raise ExportError(f"internal: the ORT base model has no batch statistics of batch_norm {node.name!r}")
        entries.append(
            {
                "layer": node.name,
                "mean": node.params["mean"],
                "var": node.params["var"],
                "momentum": float(node.attrs.get("momentum", BN_MOMENTUM)),
                "batch_mean": mean,
                "batch_var": var,
            }
        )
    return entries


@contextmanager
def _native_stderr_captured() -> Iterator[Path]:
    """Send C++-level stderr (ORT's gradient builder logs every transformer at info level,
    ignoring the logger severity) to a temp file while the block runs."""
    with tempfile.TemporaryDirectory() as d:
        log = Path(d) / "ort.log"
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            with open(log, "wb") as f:
                os.dup2(f.fileno(), 2)
                try:
                    yield log
                finally:
                    os.dup2(saved, 2)
        finally:
            os.close(saved)


def _quiet_ort() -> None:
    """Gradient-graph building logs every graph transformer at info level: keep errors only."""
    import onnxruntime

    onnxruntime.set_default_logger_severity(3)


def _pin_ir_version(path: Path) -> None:
    """Generated models take onnx's default IR version (11 with onnx >= 1.18, which ORT 1.19 rejects)."""
    model = onnx.load(str(path))
    if model.ir_version != IR_VERSION:
        model.ir_version = IR_VERSION
        onnx.save(model, str(path))


@dataclass
class OrtTrainResult:
    """What :func:`ort_train` gives: the artifacts' model with the trained parameters (and running
    statistics) folded back in, every step's loss, the loss on the whole training data before and
    after training, and the number of steps."""

    graph: Graph  # the artifacts' model with the trained parameters folded back in
    losses: list[float] = field(default_factory=list)  # per step
    loss_before: float = 0.0  # eval-model loss on the whole training data
    loss_after: float = 0.0
    steps: int = 0


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The training-artifact manifest in ``directory``, checked; ModelFileError when missing or invalid."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        raise ModelFileError(
            f"{directory} is not an edgetrain ORT-artifacts directory (no {MANIFEST})",
            hint="create one with `edgetrain export onnx MODEL -o DIR --ort-artifacts`",
        ) from None
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{directory / MANIFEST} is corrupt ({e})") from None
    missing = [f for f in manifest.get("files", FILES).values() if not (directory / f).exists()]
    if missing:
        raise ModelFileError(f"{directory}: artifact files missing: {', '.join(missing)}")
    return manifest


def _targets(loss: str, y: np.ndarray, n_out: int) -> np.ndarray:
    if loss == "cross_entropy":
        return np.asarray(y, np.int64)
    y = np.asarray(y)
    if y.ndim == 1:  # class ids become one-hot targets, as engine.losses.MSE does
        return np.eye(n_out, dtype=np.float32)[y.astype(np.int64)]
    return y.astype(np.float32)


def ort_train(
    directory: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 0.01,
    seed: int = 0,
    out_dir: str | Path | None = None,
    force: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    **deprecated: Any,
) -> OrtTrainResult:
    """Train the artifacts in `directory` with ``onnxruntime.training.api`` on (x, y).

    Batches follow `Trainer.fit` exactly (one ``default_rng(seed).permutation`` per epoch), so an
    SGD run can be compared with the numpy engine step for step. With `out_dir`, writes atomically
    ``model.onnx`` (exported by ONNX Runtime for inference), ``checkpoint`` and ``model.etm``
    (`edgetrain.outputs` rules: refused over other files unless ``force``; never over
    `directory` or a ``protect`` path). The old keyword ``output`` still works, with a
    DeprecationWarning.
    """
    output = renamed_keyword("ort_train", deprecated, "output", "out_dir", out_dir, None)
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ConfigError("epochs and batch size must be at least 1 and the learning rate positive")
    directory = Path(directory)
    if output is not None:  # refuse a bad output before training, not after
        check_output_dir(output, force=force, protect=[directory, *protect])
    manifest = read_manifest(directory)
    graph = load_model(directory / manifest["files"]["model"])
    _, api = load_ort_training()
    _quiet_ort()
    # Samples of the model's input shape, or flat rows of its size read channels-last row-major:
    # the engine's own check (a shaped model trains on the same data files as in numpy).
    from ...engine.executor import check_input

    x = check_input(graph, np.asarray(x, np.float32))
    n_out = graph.shapes()[graph.output_name][0]
    t = _targets(manifest["loss"], y, n_out)

    files = {k: str(directory / v) for k, v in manifest["files"].items()}
    state = api.CheckpointState.load_checkpoint(files["checkpoint"])
    module = api.Module(files["training"], state, files["eval"], device="cpu")
    opt = api.Optimizer(files["optimizer"], module)
    opt.set_learning_rate(float(lr))

    # batch_norm layers trained with batch statistics: their running statistics live here (ORT
    # cannot update them) and follow the numpy rule after every step (`running_statistics_of`).
    running = manifest.get("running_statistics", [])
    stats = {e[k]: graph.params[e[k]].value.astype(np.float32) for e in running for k in ("mean", "var")}
    result = OrtTrainResult(graph)
    # The eval model is the training forward (batch statistics) when batch_norm layers train;
    # their loss is the inference-mode one, the numpy engine's on the model (before / after).
    result.loss_before = _numpy_loss(graph, manifest["loss"], x, t) if running else _eval_loss(module, x, t)
    rng = np.random.default_rng(seed)
    n = len(x)
    module.train()
    for _ in range(epochs):
        order = rng.permutation(n)
        for s in range(0, n, batch_size):
            idx = order[s : s + batch_size]
            outs = module(x[idx], t[idx])
            if running:
                loss = float(outs[0])
                for e, k in zip(running, range(1, len(outs), 2)):
                    m = e["momentum"]  # float32 arithmetic, as BatchNormOp.forward
                    stats[e["mean"]] = m * stats[e["mean"]] + (1 - m) * np.asarray(outs[k], np.float32)
                    stats[e["var"]] = m * stats[e["var"]] + (1 - m) * np.asarray(outs[k + 1], np.float32)
            else:
                loss = float(outs)
            opt.step()
            module.lazy_reset_grad()
            if not np.isfinite(loss):
                raise DataError(f"ORT training diverged: loss became {loss}", hint="lower the learning rate")
            result.losses.append(loss)
    result.steps = len(result.losses)
    if not running:
        result.loss_after = _eval_loss(module, x, t)

    for name in manifest["trainable"]:
        p = graph.params[name]
        data = np.asarray(state.parameters[name].data, np.float32).reshape(p.storage().shape)
        if p.codebook is not None:
            p.codebook = data
        else:
            p.value = data
        p.apply_constraints()
    for name, value in stats.items():
        graph.params[name].value = value
    if running:
        result.loss_after = _numpy_loss(graph, manifest["loss"], x, t)
    graph.meta.setdefault("training", {}).update(
        {"ort_steps": result.steps, "ort_lr": lr, "ort_optimizer": manifest["optimizer"]}
    )
    if output is not None:
        with atomic_directory(output, force=force, protect=[directory, *protect]) as tmp:
            if running:  # ORT's export would normalise with batch statistics: edgetrain's uses the running ones
                onnx.save(build_inference_model(graph), str(tmp / "model.onnx"))
            else:
                module.export_model_for_inferencing(str(tmp / "model.onnx"), [manifest["output"]])
            api.CheckpointState.save_checkpoint(state, str(tmp / "checkpoint"))
            save_model(graph, tmp / "model.etm")
    return result


def _numpy_loss(graph: Graph, loss: str, x: np.ndarray, t: np.ndarray) -> float:
    """The loss of ``graph`` in inference mode (running statistics) on the whole of (x, t)."""
    from ...engine.executor import predict
    from ...engine.losses import get_loss

    return float(get_loss(loss)(predict(graph, x), t, x)[0])


def _eval_loss(module: Any, x: np.ndarray, t: np.ndarray) -> float:
    module.eval()
    loss = float(module(x, t))
    module.train()
    return loss

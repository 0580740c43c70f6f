"""TOML training configs: parse, validate and run.

    seed = 0
    [data]
    source = "digits"          # bundled name or a .npz/.csv path
    test_size = 0.3
    val_size = 0.1
    [model]
    layers = [ { type = "dense", units = 32, activation = "relu" }, { type = "dense", units = 10 } ]
    [train]
    epochs = 40
    batch_size = 32
    loss = "cross_entropy"
    early_stopping = 10        # epochs without validation improvement (optional)
    [train.optimizer]
    name = "adam"
    lr = 0.003
    [techniques.<name>]       # edge techniques (see edgetrain.techniques)
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .layers import Dense, Layer, LeakyReLU, Residual
from .ops.activations import LEAKY_RELU_ALPHA

LAYER_TYPES = ("dense", "relu", "relu6", "softmax", "leaky_relu", "sigmoid", "tanh", "hard_swish", "flatten",
               "identity", "residual")
_TOP_KEYS = {"seed", "name", "data", "model", "train", "techniques"}


@dataclass
class TrainConfig:
    name: str
    seed: int
    data: dict[str, Any]
    layers: list[Layer]
    epochs: int
    batch_size: int
    loss: str
    optimizer: dict[str, Any]
    early_stopping: int | None
    techniques: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None


def load_config(path: str | Path) -> TrainConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    try:
        doc = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from None
    return parse_config(doc, name=path.stem, path=path)


def _section(doc: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    sec = doc.get(key, {})
    if not isinstance(sec, dict):
        raise ConfigError(f"{where}: [{key}] must be a table")
    return sec


def parse_config(doc: dict[str, Any], name: str = "model", path: Path | None = None) -> TrainConfig:
    where = str(path) if path else "config"
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown top-level keys {sorted(unknown)}", hint=f"allowed: {sorted(_TOP_KEYS)}")
    data = _section(doc, "data", where)
    if "source" not in data:
        raise ConfigError(f"{where}: [data] needs source = \"digits\" (or a .npz/.csv path)")
    model = _section(doc, "model", where)
    if not model.get("layers"):
        raise ConfigError(f"{where}: [model] needs a non-empty layers list")
    layers = [parse_layer(spec, f"{where}: model.layers[{i}]") for i, spec in enumerate(model["layers"])]
    train = _section(doc, "train", where)
    opt = dict(_section(train, "optimizer", where) or {"name": "adam", "lr": 0.003})
    opt.setdefault("name", "adam")
    techniques = _section(doc, "techniques", where)
    try:
        return TrainConfig(
            name=str(doc.get("name", name)), seed=int(doc.get("seed", 0)), data=dict(data), layers=layers,
            epochs=int(train.get("epochs", 30)), batch_size=int(train.get("batch_size", 32)),
            loss=str(train.get("loss", "cross_entropy")), optimizer=opt,
            early_stopping=int(train["early_stopping"]) if "early_stopping" in train else None,
            techniques=dict(techniques), path=path,
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: bad value in [train] ({e})") from None


def parse_layer(spec: Any, where: str) -> Layer:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(f"{where}: each layer must be a table with a type")
    kind = spec["type"]
    opts = {k: v for k, v in spec.items() if k != "type"}
    name = opts.pop("name", None)
    try:
        if kind == "dense":
            _no_extra(opts, where, kind)
            return Dense(opts["units"], opts.get("activation"), use_bias=opts.get("bias", True),
                         trainable=opts.get("trainable", True), name=name)
        if kind == "residual":
            body = [parse_layer(s, f"{where}.layers[{i}]") for i, s in enumerate(opts.pop("layers", []))]
            _no_extra(opts, where, kind)
            return Residual(body, name=name)
        if kind == "leaky_relu":
            _no_extra(opts, where, kind)
            try:
                return LeakyReLU(opts.get("alpha", LEAKY_RELU_ALPHA), name=name)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e.message}", hint=e.hint) from None
        if kind in LAYER_TYPES:
            _no_extra(opts, where, kind)
            return Layer(kind, name)
    except KeyError as e:
        raise ConfigError(f"{where}: {kind} layer needs {e.args[0]!r}") from None
    raise ConfigError(f"{where}: unknown layer type {kind!r}", hint=f"known types: {', '.join(LAYER_TYPES)}")


def _no_extra(opts: dict[str, Any], where: str, kind: str) -> None:
    allowed = {"dense": {"units", "activation", "bias", "trainable"}, "residual": {"layers"},
               "leaky_relu": {"alpha"}}.get(kind, set())
    extra = set(opts) - allowed
    if extra:
        raise ConfigError(f"{where}: unknown option(s) {sorted(extra)} for a {kind} layer")

"""TOML training configs: parse, validate and run.

    seed = 0
    [data]
    source = "digits"          # bundled name or a .npz/.csv path (relative: to this file's directory)
    test_size = 0.3
    val_size = 0.1
    # or separate files instead of source:  train = "a.npz"  test = "b.npz"  (val = "c.npz")
    # label_column = "activity" # CSV: the label's column name or number (default: "label", else last)
    # delimiter = ";"          # CSV: default sniffed (, ; tab |)
    # window = 64              # cut a (time, channels) recording into windows of 64 steps,
    # stride = 32              # 32 apart (default: window); labels per step (majority) or per window
    [model]
    layers = [ { type = "dense", units = 32, activation = "relu" }, { type = "dense", units = 10 } ]
    input_shape = [8, 8, 1]    # optional: the shape of one sample (default: the data's own)
    [train]
    epochs = 40
    batch_size = 32
    loss = "cross_entropy"
    early_stopping = 10        # epochs without validation improvement (optional)
    [train.optimizer]
    name = "adam"
    lr = 0.003
    [techniques.<name>]       # edge techniques (see edgetrain.techniques)

The schema is strict: an unknown key at any level, a value of the wrong type (``true`` is not a
number, ``"10"`` is not one either) or out of range is a `ConfigError` naming the file and the key
(``cfg.toml: [train] epochs``), with a did-you-mean hint for misspelt keys and names. The tables
below are the schema; `edgetrain.config_schema` holds the checks and derives the optimizer and
technique options from the code that consumes them.
"""

from __future__ import annotations

import difflib
import inspect
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import limits
from .config_schema import (
    MAX_NESTING,
    MAX_SEED,
    Field,
    check_table,
    choice_hint,
    first_unknown,
    optimizer_schemas,
    show,
    technique_schemas,
)
from .data import BUILTIN, split_and_standardise
from .engine.losses import LOSSES
from .errors import ConfigError
from .layers import (
    ACTIVATIONS,
    BatchNorm,
    Conv,
    Dense,
    DepthwiseConv2D,
    Layer,
    LeakyReLU,
    Reshape,
    Residual,
    pool_layer,
)
from .ops.activations import LEAKY_RELU_ALPHA

LAYER_TYPES = (
    "dense",
    "relu",
    "relu6",
    "softmax",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "hard_swish",
    "flatten",
    "identity",
    "residual",
    "conv1d",
    "conv2d",
    "depthwise_conv2d",
    "max_pool",
    "avg_pool",
    "global_avg_pool",
    "batch_norm",
    "reshape",
)
#: Options a layer type cannot do without.
REQUIRED_OPTIONS = {
    "dense": ("units",),
    "conv1d": ("filters", "kernel"),
    "conv2d": ("filters", "kernel"),
    "depthwise_conv2d": ("kernel",),
    "reshape": ("shape",),
}

_SPLIT = inspect.signature(split_and_standardise).parameters  # the split defaults train_run falls back to
# 0: no such split (what data.py advises for tiny data sets)
_FRACTION: dict[str, Any] = {"lo": 0, "hi": 1, "hi_open": True}


def _table(name: str) -> Field:
    return Field("table", hint=f"write it as a section: a [{name}] line with its keys below it")


_TOP = {
    "name": Field("str", example="digits_mlp"),
    "seed": Field("int", 0, lo=0, hi=MAX_SEED),
    "data": _table("data"),
    "model": _table("model"),
    "train": _table("train"),
    "techniques": _table("techniques.<name>"),
}
# The keys train_run.train_from_config reads from [data].
_DATA = {
    "source": Field("str", hint='e.g. source = "digits" or source = "data.npz"'),
    "train": Field("str", hint='e.g. train = "train.npz" (with test = "test.npz")'),
    "val": Field("str", hint='e.g. val = "val.npz"'),
    "test": Field("str", hint='e.g. test = "test.npz"'),
    "test_size": Field("float", _SPLIT["test_size"].default, **_FRACTION),
    "val_size": Field("float", _SPLIT["val_size"].default, **_FRACTION),
    "split_seed": Field("int", 0, lo=0, hi=MAX_SEED),
    "label_column": Field("any", hint='a CSV column name or number, e.g. label_column = "activity" or -1'),
    "delimiter": Field("str", choices=(",", ";", "\t", "|"), what="delimiter"),
    "window": Field("int", None, lo=1, limit="MAX_UNITS", example=64),
    "stride": Field("int", None, lo=1, limit="MAX_UNITS", example=32),
}
_MODEL = {
    "layers": Field("list", hint='e.g. layers = [ { type = "dense", units = 10 } ]'),
    "input_shape": Field(
        "list", hint="e.g. input_shape = [8, 8, 1] (height, width, channels) or [64, 3] (length, channels)"
    ),
}
_TRAIN = {
    "epochs": Field("int", 30, lo=1, limit="MAX_EPOCHS"),
    "batch_size": Field("int", 32, lo=1, limit="MAX_BATCH"),
    "loss": Field("str", "cross_entropy", choices=tuple(LOSSES), what="loss"),
    "early_stopping": Field("int", None, lo=1, limit="MAX_EPOCHS", example=10),
    "optimizer": _table("train.optimizer"),
}
_DEFAULT_OPTIMIZER = {"name": "adam", "lr": 0.003}
# Layer options by type (every type also takes `type` and `name`); TOML's `bias` is Dense's use_bias.
_LAYER = {
    "dense": {
        "units": Field("int", None, lo=1, limit="MAX_UNITS", example=32),
        "activation": Field("str", example="relu", choices=ACTIVATIONS, what="activation"),
        "bias": Field("bool", True),
        "trainable": Field("bool", True),
    },
    "leaky_relu": {"alpha": Field("float", LEAKY_RELU_ALPHA, lo=0, hi=1, lo_open=True, hi_open=True)},
    "residual": {"layers": Field("list", hint='e.g. layers = [ { type = "dense", units = 8 } ]')},
}
# Sizes (kernel, stride, dilation, pool) are an integer or one per spatial axis; padding is "same",
# "valid" or amounts per side; the layer builders check them and the model build checks them
# against the input they meet.
_SIZES = {"kernel": Field("any", example=3), "stride": Field("any", 1), "dilation": Field("any", 1)}
_PADDING = Field("any", "same", example="same")
_CONV = {
    "filters": Field("int", None, lo=1, limit="MAX_UNITS", example=16),
    **_SIZES,
    "padding": _PADDING,
    "groups": Field("int", 1, lo=1, limit="MAX_UNITS"),
    "activation": Field("str", example="relu", choices=ACTIVATIONS, what="activation"),
    "bias": Field("bool", True),
    "trainable": Field("bool", True),
}
_POOL = {
    "pool": Field("any", 2, example=2),
    "stride": Field("any", None, example=2),
    "padding": Field("str", "valid", choices=("valid", "same"), what="padding"),
}
_LAYER.update(
    {
        "conv1d": _CONV,
        "conv2d": _CONV,
        "depthwise_conv2d": {
            **{k: v for k, v in _CONV.items() if k not in ("filters", "groups")},
            "depth_multiplier": Field("int", 1, lo=1, limit="MAX_UNITS"),
        },
        "max_pool": _POOL,
        "avg_pool": _POOL,
        "batch_norm": {
            "momentum": Field("float", 0.9, lo=0, hi=1, hi_open=True),
            "eps": Field("float", 1e-5, lo=0, lo_open=True),
            "trainable": Field("bool", True),
        },
        "reshape": {"shape": Field("list", hint="e.g. shape = [8, 8, 1] (one size may be -1)")},
    }
)
_LAYER_COMMON = {"type": Field("str", example="dense"), "name": Field("str", example="dense1")}


@dataclass
class TrainConfig:
    """A checked host training config (see the module docstring for the TOML it comes from)."""

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
    input_shape: tuple[int, ...] | None = None  # None: the shape of the data's samples


def load_config(path: str | Path) -> TrainConfig:
    """Read, parse and check the TOML config at `path`; every problem is a `ConfigError`."""
    path = Path(path)
    try:
        doc = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(
            f"{path}: invalid TOML ({' '.join(str(e).split())})",
            hint="fix the TOML syntax at the line and column named",
        ) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError(
            f"{path}: invalid TOML (arrays or tables nested too deeply)",
            hint="a training config nests a few levels; check the brackets",
        ) from None
    except ValueError as e:  # tomllib lets int()'s ValueError out: an integer of over 4300 digits
        raise ConfigError(
            f"{path}: invalid TOML ({str(e).split(':')[0]})", hint="write numbers with at most a few dozen digits"
        ) from None
    return parse_config(doc, name=path.stem, path=path)


def _read_text(path: Path) -> str:
    """The file's text: a regular-enough file, at most MAX_FILE_BYTES, UTF-8 (a leading BOM is dropped)."""
    cap = limits.limit("MAX_FILE_BYTES")
    try:
        if path.is_dir():
            raise ConfigError(f"{path}: is a directory, not a TOML config", hint="give the path of a .toml file")
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size  # a big file is refused before it is read
            raw = f.read(cap + 1) if size <= cap else b""  # a pipe reports 0: read at most cap + 1
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist", hint="check the path of the .toml file") from None
    except (OSError, ValueError) as e:  # permissions, a name too long, a NUL in the name
        raise ConfigError(
            f"{path}: cannot read the config ({getattr(e, 'strerror', None) or e})",
            hint="check that the file exists and is readable",
        ) from None
    if size > cap or len(raw) > cap:
        raise ConfigError(
            f"{path}: the config is over the limit MAX_FILE_BYTES={cap} bytes",
            hint=limits.over_limit_hint("MAX_FILE_BYTES"),
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: not UTF-8 text (byte 0x{raw[e.start]:02x} on line {line})",
            hint="TOML files are UTF-8: re-save the file with UTF-8 encoding",
        ) from None


def parse_config(doc: dict[str, Any], name: str = "model", path: Path | None = None) -> TrainConfig:
    """Check a parsed TOML document (a dict) against the schema and build the `TrainConfig`.

    `name` is the model name when the document has none; `path` names the file in messages.
    """
    where = str(path) if path else "config"
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: a config must be a table of keys, got {show(doc)}")
    top = check_table(doc, _TOP, where, "")
    data = _data_table(check_table(top.get("data", {}), _DATA, where, "[data]"), where)
    test_size = data.get("test_size", _DATA["test_size"].default)
    val_size = data.get("val_size", _DATA["val_size"].default)
    if not test_size + val_size < 1:
        raise ConfigError(
            f"{where}: [data] test_size + val_size must be below 1, got {test_size:g} + {val_size:g}",
            hint="the rest is the training split, e.g. test_size = 0.2 and val_size = 0.1",
        )
    model = check_table(top.get("model", {}), _MODEL, where, "[model]")
    if not model.get("layers"):
        raise ConfigError(f"{where}: [model] needs a non-empty layers list", hint=_MODEL["layers"].hint)
    input_shape = _input_shape(model["input_shape"], where) if "input_shape" in model else None
    counter = _LayerCount()
    layers = [_parse_layer(spec, f"{where}: model.layers[{i}]", 0, counter) for i, spec in enumerate(model["layers"])]
    train = check_table(top.get("train", {}), _TRAIN, where, "[train]")
    return TrainConfig(
        name=top.get("name", name),
        seed=top.get("seed", 0),
        data=data,
        layers=layers,
        epochs=train.get("epochs", _TRAIN["epochs"].default),
        batch_size=train.get("batch_size", _TRAIN["batch_size"].default),
        loss=train.get("loss", _TRAIN["loss"].default),
        optimizer=_optimizer(train, where),
        early_stopping=train.get("early_stopping"),
        techniques=_techniques(top.get("techniques", {}), where),
        path=path,
        input_shape=input_shape,
    )


def _data_table(data: dict[str, Any], where: str) -> dict[str, Any]:
    """[data]: one source, or separate split files; reading options only where they apply."""
    if "source" not in data and "train" not in data and any(k in data for k in ("val", "test")):
        raise ConfigError(f"{where}: [data] has a val or test file but no train file", hint='add train = "FILE"')
    if "source" not in data and "train" not in data:
        raise ConfigError(
            f'{where}: [data] needs source = "digits" (or a .npz/.csv path), or train = FILE',
            hint=f"bundled data sets: {', '.join(BUILTIN)}; files: .npz (x, y) or .csv",
        )
    if "source" in data and any(k in data for k in ("train", "val", "test")):
        raise ConfigError(
            f"{where}: [data] has both source and train/val/test files",
            hint="give one source (split by test_size/val_size), or train = FILE with test = FILE",
        )
    if "stride" in data and "window" not in data:
        raise ConfigError(f"{where}: [data] stride needs a window", hint="e.g. window = 64, stride = 32")
    label = data.get("label_column")
    if "label_column" in data and (isinstance(label, bool) or not isinstance(label, (str, int))):
        raise ConfigError(
            f"{where}: [data] label_column must be a column name or number, got {show(label)}",
            hint=_DATA["label_column"].hint,
        )
    return data


def _input_shape(value: list[Any], where: str) -> tuple[int, ...]:
    """``[model] input_shape``: 1 to 3 positive whole sizes whose product is within MAX_UNITS."""
    key = f"{where}: [model] input_shape"
    hint = _MODEL["input_shape"].hint
    if not 1 <= len(value) <= 3 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in value):
        raise ConfigError(f"{key} must be 1 to 3 positive whole sizes, got {show(value)}", hint=hint)
    cap = limits.limit("MAX_UNITS")
    width = 1
    for d in value:
        width *= d
        if width > cap:  # checked as it grows: a hostile [10**300, ...] never multiplies out
            raise ConfigError(
                f"{key} {show(value)} has more than {cap} values per sample, over the limit MAX_UNITS={cap}",
                hint=limits.over_limit_hint("MAX_UNITS"),
            )
    return tuple(value)


def _optimizer(train: dict[str, Any], where: str) -> dict[str, Any]:
    """[train.optimizer] checked against the chosen optimizer's own options (adam has no momentum)."""
    if "optimizer" not in train or not train["optimizer"]:
        return dict(_DEFAULT_OPTIMIZER)
    opt = dict(train["optimizer"])
    name = Field("str", example="adam").check(opt.get("name", "adam"), f"{where}: [train.optimizer] name")
    schemas = optimizer_schemas()
    schema = schemas.get(name.lower())  # make_optimizer ignores case
    if schema is None:
        raise ConfigError(
            f"{where}: [train.optimizer] name: unknown optimizer {name!r}", hint=choice_hint(name.lower(), schemas)
        )
    key = first_unknown(opt, {"name", *schema})
    if key is not None:  # suggest from every optimizer's options: momentun -> momentum (of sgd)
        close = difflib.get_close_matches(str(key), sorted({k for s in schemas.values() for k in s}), n=1)
        allowed = f"{name.lower()} takes: {', '.join(sorted({'name', *schema}))}"
        sug = close[0] if close else None
        owners = ", ".join(n for n, s in schemas.items() if sug in s)
        hint = allowed
        if sug is not None and sug not in schema:
            hint = f"{sug} is an option of {owners}, not {name.lower()}; {hint}"
        if sug not in (None, key):
            hint = f"did you mean {sug!r}? {hint}"
        raise ConfigError(f"{where}: unknown key {show(key)} in [train.optimizer]", hint=hint)
    return {
        "name": name,
        **check_table({k: v for k, v in opt.items() if k != "name"}, schema, where, "[train.optimizer]"),
    }


def _techniques(table: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Each [techniques.<name>]: a registered technique, a table, its options checked when known."""
    schemas = technique_schemas()
    out = {}
    for tech, opts in table.items():
        if tech not in schemas:
            raise ConfigError(
                f"{where}: unknown technique {show(tech)} in [techniques]",
                hint=choice_hint(tech, sorted(schemas), "available"),
            )
        opts = _table(f"techniques.{tech}").check(opts, f"{where}: [techniques] {tech}")
        schema = schemas[tech]
        out[tech] = dict(opts) if schema is None else check_table(opts, schema, where, f"[techniques.{tech}]")
    return out


class _LayerCount:
    """Layers parsed so far (residual bodies included), refused past MAX_LAYERS."""

    def __init__(self) -> None:
        self.n = 0
        self.cap = limits.limit("MAX_LAYERS")

    def add(self, where: str) -> None:
        self.n += 1
        if self.n > self.cap:
            raise ConfigError(
                f"{where}: the model has more than {self.cap} layers, over the limit MAX_LAYERS={self.cap}",
                hint=limits.over_limit_hint("MAX_LAYERS"),
            )


def parse_layer(spec: Any, where: str) -> Layer:
    """One layer table (``{ type = "dense", units = 8 }``) as a `Layer`; ``where`` prefixes messages."""
    return _parse_layer(spec, where, 0, _LayerCount())


def _parse_layer(spec: Any, where: str, depth: int, counter: _LayerCount) -> Layer:
    counter.add(where)
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(
            f"{where}: each layer must be a table with a type", hint='e.g. { type = "dense", units = 10 }'
        )
    kind = _LAYER_COMMON["type"].check(spec["type"], f"{where} type")
    if kind not in LAYER_TYPES:
        raise ConfigError(f"{where}: unknown layer type {kind!r}", hint=choice_hint(kind, LAYER_TYPES, "known types"))
    schema = {**_LAYER_COMMON, **_LAYER.get(kind, {})}
    extra = [k for k in spec if k not in schema]
    if extra:
        raise ConfigError(
            f"{where}: unknown option(s) {sorted(map(str, extra))} for a {kind} layer",
            hint=choice_hint(extra[0], sorted(set(schema) - {"type"}), "allowed"),
        )
    opts = {k: schema[k].check(v, f"{where} {k}") for k, v in spec.items() if k != "type"}
    name = opts.pop("name", None)
    missing = [k for k in REQUIRED_OPTIONS.get(kind, ()) if k not in opts]
    if missing:
        example = ", ".join(f"{k} = {schema[k]._example()!r}".replace("'", '"') for k in REQUIRED_OPTIONS[kind])
        raise ConfigError(
            f"{where}: {kind} layer needs {' and '.join(repr(k) for k in missing)}",
            hint=f'e.g. {{ type = "{kind}", {example} }}',
        )
    try:
        return _build_layer(kind, opts, name, where, depth, counter)
    except ConfigError as e:
        if e.message.startswith(where):
            raise
        raise ConfigError(f"{where}: {e.message}", hint=e.hint) from None


def _build_layer(
    kind: str, opts: dict[str, Any], name: str | None, where: str, depth: int, counter: _LayerCount
) -> Layer:
    """The layer of one checked layer table (the builders check what the schema leaves to them)."""
    conv = {k: opts[k] for k in ("stride", "padding", "dilation", "activation") if k in opts}
    flags = {"use_bias": opts.get("bias", True), "trainable": opts.get("trainable", True), "name": name}
    if kind in ("conv1d", "conv2d"):
        return Conv(kind, opts["filters"], opts["kernel"], groups=opts.get("groups", 1), **conv, **flags)
    if kind == "depthwise_conv2d":
        return DepthwiseConv2D(opts["kernel"], opts.get("depth_multiplier", 1), **conv, **flags)
    if kind in ("max_pool", "avg_pool"):
        return pool_layer(kind, opts.get("pool", 2), opts.get("stride"), opts.get("padding", "valid"), name)
    if kind == "batch_norm":
        return BatchNorm(
            opts.get("momentum", 0.9), opts.get("eps", 1e-5), trainable=opts.get("trainable", True), name=name
        )
    if kind == "reshape":
        return Reshape(opts["shape"], name=name)
    if kind == "dense":
        return Dense(
            opts["units"],
            opts.get("activation"),
            use_bias=opts.get("bias", True),
            trainable=opts.get("trainable", True),
            name=name,
        )
    if kind == "residual":
        if depth >= MAX_NESTING:
            raise ConfigError(
                f"{where}: residual blocks nested more than {MAX_NESTING} deep",
                hint="flatten the model: real models nest residual blocks a few levels at most",
            )
        body = [
            _parse_layer(s, f"{where}.layers[{i}]", depth + 1, counter) for i, s in enumerate(opts.get("layers", []))
        ]
        return Residual(body, name=name)
    if kind == "leaky_relu":
        return LeakyReLU(opts.get("alpha", LEAKY_RELU_ALPHA), name=name)
    return Layer(kind, name)

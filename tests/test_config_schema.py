"""The strict TOML config schema: every bad key or value is one ConfigError naming file and key."""
from __future__ import annotations

import copy
import inspect
import math
from pathlib import Path
from typing import Any

import pytest

from edgetrain import limits
from edgetrain.config import LAYER_TYPES, REQUIRED_OPTIONS, TrainConfig, load_config, parse_config, parse_layer
from edgetrain.config_schema import MAX_NESTING, optimizer_schemas, technique_schemas
from edgetrain.engine.optim import OPTIMIZERS
from edgetrain.errors import ConfigError
from edgetrain.layers import Dense

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

GOOD: dict[str, Any] = {
    "name": "t", "seed": 0,
    "data": {"source": "digits", "test_size": 0.3, "val_size": 0.1},
    "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "dense", "units": 10}]},
    "train": {"epochs": 2, "batch_size": 16, "optimizer": {"name": "adam", "lr": 0.003}},
}


def edit(path: str, value: Any) -> dict[str, Any]:
    """GOOD with ``path`` ("train.epochs", "model.layers.0.units") set to value (``DELETE`` removes it)."""
    doc = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    node: Any = doc
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if isinstance(node, list):
        node[int(last)] = value
    elif value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


class _Delete:
    """The marker of a key to remove; a stable repr, so test ids are the same in every process."""

    def __repr__(self) -> str:
        return "DELETE"


DELETE = _Delete()
LAYER0 = "model.layers.0"

BAD = [
    # unknown keys, with did-you-mean
    ("sed", 0, "unknown key 'sed' at the top level", "did you mean 'seed'?"),
    ("train.epoch", 5, "unknown key 'epoch' in [train]", "did you mean 'epochs'? allowed: batch_size"),
    ("data.sorce", "digits", "unknown key 'sorce' in [data]", "did you mean 'source'?"),
    ("model.layer", [], "unknown key 'layer' in [model]", "did you mean 'layers'?"),
    ("train.optimizer.momentun", 0.9, "unknown key 'momentun' in [train.optimizer]", "did you mean 'momentum'?"),
    ("train.optimizer.momentum", 0.9, "unknown key 'momentum' in [train.optimizer]", "option of sgd, not adam"),
    ("techniques.sett", {}, "unknown technique 'sett' in [techniques]", "did you mean 'set'?"),
    ("techniques.set", {"zta": 0.3}, "unknown key 'zta' in [techniques.set]", "did you mean 'zeta'?"),
    ("techniques.prune", {"sparsity": 0.5, "end": 3}, "unknown key 'end' in [techniques.prune]", "end_epoch"),
    (f"{LAYER0}.unit", 3, "model.layers[0]: unknown option(s) ['unit'] for a dense layer", "did you mean 'units'?"),
    # types: bool is not a number, strings are not numbers
    ("train.epochs", True, "[train] epochs must be a whole number, got true", "without quotes"),
    ("train.epochs", 2.5, "[train] epochs must be a whole number, got 2.5", "epochs = 30"),
    ("train.epochs", 5.0, "[train] epochs must be a whole number, got 5.0", "write 5 (no decimal point)"),
    ("train.batch_size", "16", "[train] batch_size must be a whole number, got '16'", None),
    ("seed", "0", "seed must be a whole number, got '0'", None),
    ("name", 3, "name must be a string, got 3", 'name = "digits_mlp"'),
    ("train.loss", 3, "[train] loss must be a string, got 3", None),
    ("train.optimizer.lr", "fast", "[train.optimizer] lr must be a number, got 'fast'", None),
    ("train.optimizer.name", 3, "[train.optimizer] name must be a string, got 3", None),
    ("data.test_size", "0.3", "[data] test_size must be a number, got '0.3'", None),
    ("data.source", 3, "[data] source must be a string, got 3", None),
    ("model.layers", 3, "[model] layers must be a list, got 3", None),
    (f"{LAYER0}.units", "10", "model.layers[0] units must be a whole number, got '10'", None),
    (f"{LAYER0}.units", True, "model.layers[0] units must be a whole number, got true", None),
    (f"{LAYER0}.activation", 1, "model.layers[0] activation must be a string, got 1", None),
    (f"{LAYER0}.bias", "yes", "model.layers[0] bias must be true or false, got 'yes'", None),
    (f"{LAYER0}.name", ["a"], "model.layers[0] name must be a string, got ['a']", None),
    (f"{LAYER0}.type", 3, "model.layers[0] type must be a string, got 3", None),
    (LAYER0, 3, "model.layers[0]: each layer must be a table with a type", None),
    (LAYER0, {"type": "residual", "layers": 3}, "model.layers[0] layers must be a list, got 3", None),
    (LAYER0, {"type": "leaky_relu", "alpha": "x"}, "model.layers[0] alpha must be a number, got 'x'", None),
    (LAYER0, {"type": "leaky_relu", "alpha": math.inf}, "model.layers[0] alpha must be a finite number", None),
    ("data", 3, "data must be a table, got 3", "[data]"),
    ("train.optimizer", "adam", "[train] optimizer must be a table, got 'adam'", "[train.optimizer]"),
    ("techniques", 3, "techniques must be a table, got 3", None),
    ("techniques.set", 3, "[techniques] set must be a table, got 3", None),
    ("techniques.set", {"eps": "five"}, "[techniques.set] eps must be a number, got 'five'", None),
    ("techniques.set", {"eps": math.nan}, "[techniques.set] eps must be a finite number, got nan", None),
    ("techniques.motif", {"m": 2.5}, "[techniques.motif] m must be a whole number, got 2.5", None),
    ("techniques.set", {"layers": "dense1"}, "[techniques.set] layers must be a list of strings", None),
    # choices
    ("train.loss", "hinge", "[train] loss: unknown loss 'hinge'", "choose one of: cross_entropy, mse"),
    ("train.optimizer.name", "adamw", "[train.optimizer] name: unknown optimizer 'adamw'", "did you mean 'adam'?"),
    (f"{LAYER0}.activation", "relux", "model.layers[0] activation: unknown activation 'relux'", "did you mean 'relu'?"),
    (f"{LAYER0}.type", "dens", "model.layers[0]: unknown layer type 'dens'", "did you mean 'dense'? known types"),
    # ranges
    ("seed", -1, "seed must be in [0, 4294967295], got -1", None),
    ("data.split_seed", 2**32, "[data] split_seed must be in [0, 4294967295]", None),
    ("train.epochs", 0, "[train] epochs must be in [1, 1000000], got 0", None),
    ("train.epochs", math.inf, "[train] epochs is inf, over the limit MAX_EPOCHS=1000000",
     limits.over_limit_hint("MAX_EPOCHS")),
    ("train.epochs", 1e12, "[train] epochs is 1000000000000.0, over the limit MAX_EPOCHS",
     limits.over_limit_hint("MAX_EPOCHS")),
    ("train.epochs", 10**12, "[train] epochs is 1000000000000, over the limit", limits.over_limit_hint("MAX_EPOCHS")),
    ("train.epochs", -math.inf, "[train] epochs must be a finite number, got -inf", None),
    ("train.epochs", math.nan, "[train] epochs must be a finite number, got nan", None),
    ("train.batch_size", 0, "[train] batch_size must be in [1, 1000000], got 0", None),
    ("train.batch_size", 10**7, "[train] batch_size is 10000000, over the limit MAX_BATCH", None),
    ("train.early_stopping", -3, "[train] early_stopping must be in [1, 1000000], got -3", None),
    ("train.early_stopping", 0, "[train] early_stopping must be in [1, 1000000], got 0", None),
    ("data.test_size", 1.5, "[data] test_size must be in [0, 1), got 1.5", None),
    ("data.test_size", 1, "[data] test_size must be in [0, 1), got 1", None),
    ("data.val_size", -0.1, "[data] val_size must be in [0, 1), got -0.1", None),
    (f"{LAYER0}.units", 0, "model.layers[0] units must be in [1, 1000000], got 0", None),
    (f"{LAYER0}.units", 2 * 10**9, "model.layers[0] units is 2000000000, over the limit MAX_UNITS=1000000",
     limits.over_limit_hint("MAX_UNITS")),
    ("train.optimizer.lr", -0.1, "[train.optimizer] lr must be in (0, 1000], got -0.1", None),
    ("train.optimizer.lr", 0, "[train.optimizer] lr must be in (0, 1000], got 0", None),
    ("train.optimizer.lr", 3e30, "[train.optimizer] lr must be in (0, 1000], got 3e+30", None),
    ("train.optimizer.lr", math.nan, "[train.optimizer] lr must be a finite number, got nan", None),
    ("train.optimizer.beta1", 1.5, "[train.optimizer] beta1 must be in [0, 1), got 1.5", None),
    ("train.optimizer.beta2", 1.0, "[train.optimizer] beta2 must be in [0, 1), got 1.0", None),
    ("train.optimizer.eps", -1.0, "[train.optimizer] eps must be > 0, got -1.0", None),
    ("train.optimizer.weight_decay", -1e-4, "[train.optimizer] weight_decay must be >= 0", None),
    ("train.optimizer.weight_decay", math.inf, "[train.optimizer] weight_decay must be a finite number", None),
    (LAYER0, {"type": "leaky_relu", "alpha": 1.5}, "model.layers[0] alpha must be in (0, 1), got 1.5", None),
    # required and empty
    ("data.source", DELETE, "[data] needs source", None),
    ("model.layers", [], "[model] needs a non-empty layers list", None),
    (LAYER0, {"type": "dense"}, "model.layers[0]: dense layer needs 'units'", None),
]


@pytest.mark.parametrize("path, value, message, hint", BAD, ids=[f"{p}={v!r}"[:60] for p, v, _, _ in BAD])
def test_bad_value_is_one_config_error(path: str, value: Any, message: str, hint: str | None) -> None:
    with pytest.raises(ConfigError) as e:
        parse_config(edit(path, value), path=Path("cfg.toml"))
    assert e.value.message.startswith("cfg.toml: "), e.value.message
    assert message in e.value.message, e.value.message
    assert "\n" not in e.value.message and e.value.hint and "\n" not in e.value.hint
    if hint is not None:
        assert hint in e.value.hint, e.value.hint


def test_optimizer_sgd_options_are_sgd_only() -> None:
    with pytest.raises(ConfigError, match="unknown key 'beta1' in \\[train.optimizer\\]") as e:
        parse_config(edit("train.optimizer", {"name": "sgd", "beta1": 0.9}))
    assert "option of adam, not sgd" in e.value.hint and "momentum" in e.value.hint
    with pytest.raises(ConfigError, match="momentum must be in \\[0, 1\\), got 1.0"):
        parse_config(edit("train.optimizer", {"name": "sgd", "momentum": 1.0}))


def test_split_sizes_must_leave_a_training_split() -> None:
    doc = edit("data.test_size", 0.6)
    doc["data"]["val_size"] = 0.5
    with pytest.raises(ConfigError, match=r"test_size \+ val_size must be below 1, got 0.6 \+ 0.5"):
        parse_config(doc)
    doc = edit("data.test_size", 0.95)  # val_size falls back to the split's default 0.1
    del doc["data"]["val_size"]
    with pytest.raises(ConfigError, match="below 1"):
        parse_config(doc)


def test_layer_count_and_nesting_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.env_name("MAX_LAYERS"), "4")
    with pytest.raises(ConfigError, match="more than 4 layers, over the limit MAX_LAYERS=4") as e:
        parse_config(edit("model.layers", [{"type": "relu"}] * 3
                          + [{"type": "residual", "layers": [{"type": "relu"}]}]))
    assert e.value.hint == limits.over_limit_hint("MAX_LAYERS")
    monkeypatch.delenv(limits.env_name("MAX_LAYERS"))
    spec: dict[str, Any] = {"type": "relu"}
    for _ in range(MAX_NESTING + 1):
        spec = {"type": "residual", "layers": [spec]}
    with pytest.raises(ConfigError, match=f"nested more than {MAX_NESTING} deep"):
        parse_layer(spec, "cfg: model.layers[0]")


def test_raised_limit_admits_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(limits.env_name("MAX_EPOCHS"), str(2 * limits.MAX_EPOCHS))
    assert parse_config(edit("train.epochs", limits.MAX_EPOCHS + 1)).epochs == limits.MAX_EPOCHS + 1


# ---------------------------------------------------------------- good configs keep their meaning

def test_good_config_parses_with_defaults() -> None:
    cfg = parse_config({"data": {"source": "digits"}, "model": {"layers": [{"type": "dense", "units": 10}]}},
                       name="m")
    assert isinstance(cfg, TrainConfig)
    assert (cfg.name, cfg.seed, cfg.epochs, cfg.batch_size, cfg.loss, cfg.early_stopping) == \
        ("m", 0, 30, 32, "cross_entropy", None)
    assert cfg.optimizer == {"name": "adam", "lr": 0.003} and cfg.data == {"source": "digits"}
    assert cfg.techniques == {}


@pytest.mark.parametrize("path, value", [
    ("train.optimizer", {"name": "sgd", "lr": 1, "momentum": 0.9, "weight_decay": 0}),
    ("train.optimizer", {"name": "Adam", "lr": 0.01, "beta1": 0, "beta2": 0.99, "eps": 1e-7}),
    ("train.optimizer", {}),
    ("train.optimizer.lr", 1000),
    ("train.early_stopping", 10),
    ("train.loss", "mse"),
    ("data.test_size", 0),
    ("data.val_size", 0.0),
    ("data.split_seed", 7),
    ("data.source", "some/file.npz"),
    ("seed", 2**32 - 1),
    ("name", "*/ #define x"),
    ("model.layers", [{"type": t} for t in LAYER_TYPES if t not in (*REQUIRED_OPTIONS, "residual", "leaky_relu")]
     + [{"type": "leaky_relu", "alpha": 0.2}, {"type": "leaky_relu"},
        {"type": "residual", "name": "r", "layers": [{"type": "dense", "units": 4, "bias": False, "trainable": False}]},
        {"type": "dense", "units": 10, "activation": "softmax", "name": "out"},
        {"type": "conv2d", "filters": 8, "kernel": [3, 1], "stride": 2, "padding": [[1, 1], [0, 0]], "dilation": 1,
         "groups": 1, "activation": "relu", "bias": False, "trainable": False, "name": "c"},
        {"type": "conv1d", "filters": 4, "kernel": 5, "padding": "valid"},
        {"type": "depthwise_conv2d", "kernel": 3, "depth_multiplier": 2, "stride": [1, 2]},
        {"type": "max_pool", "pool": [2, 2], "stride": 1, "padding": "same"}, {"type": "avg_pool", "pool": 3},
        {"type": "batch_norm", "momentum": 0.5, "eps": 1e-3, "trainable": False}, {"type": "reshape", "shape": [-1]}]),
    ("model.input_shape", [8, 8, 1]),
    ("model.input_shape", [64]),
    ("techniques", {"set": {"eps": 5, "zeta": 0.3, "layers": ["dense1"], "init": "keep", "regrow_scale": 0.1}}),
    ("techniques", {"motif": {"m": 2, "eps": 5.0, "lr_scale": 1}}),
    ("techniques", {"prune": {"sparsity": 0.5, "start_epoch": 0, "end_epoch": 2, "then": "set"}}),
])
def test_good_configs_parse(path: str, value: Any) -> None:
    cfg = parse_config(edit(path, value))
    assert cfg.layers and cfg.epochs == 2


def test_good_values_pass_through() -> None:
    cfg = parse_config(edit("train.optimizer", {"name": "sgd", "lr": 1, "momentum": 0.9}))
    assert cfg.optimizer == {"name": "sgd", "lr": 1.0, "momentum": 0.9}
    dense = cfg.layers[0]
    assert isinstance(dense, Dense) and (dense.units, dense.activation, dense.use_bias) == (8, "relu", True)
    assert cfg.data == {"source": "digits", "test_size": 0.3, "val_size": 0.1}


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.name)
def test_examples_load(example: Path) -> None:
    assert load_config(example).layers


# ---------------------------------------------------------------- the option sets come from the code

def test_optimizer_options_are_the_constructors_keywords() -> None:
    for name, cls in OPTIMIZERS.items():
        params = set(inspect.signature(cls.__init__).parameters) - {"self"}
        assert set(optimizer_schemas()[name]) == params


def test_technique_options_are_the_techniques_own_key_sets() -> None:
    from edgetrain.techniques import motif, prune, sparse_set

    schemas = technique_schemas()
    assert set(schemas["set"]) == sparse_set._SET_KEYS
    assert set(schemas["motif"]) == motif._MOTIF_KEYS
    assert set(schemas["prune"]) == prune._PRUNE_KEYS


# ---------------------------------------------------------------- files

@pytest.mark.parametrize("content, message, hint", [
    (b'name = "\xff\xfe"\n', "not UTF-8 text (byte 0xff on line 1)", "UTF-8"),
    (b"this is = = not toml", "invalid TOML (", "line and column"),
    (b"a = " + b"1" * 5000 + b"\n", "invalid TOML (Exceeds the limit (4300 digits)", None),
    (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "invalid TOML (arrays or tables nested too deeply)", None),
    (b'[data]\nsource = "iris"\n[model]\nlayers = [{ type = "relu" }]\n[train]\nepoch = 5\n',
     "unknown key 'epoch' in [train]", "did you mean 'epochs'?"),
])
def test_bad_files(tmp_path: Path, content: bytes, message: str, hint: str | None) -> None:
    p = tmp_path / "cfg.toml"
    p.write_bytes(content)
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.message.startswith(f"{p}: ") and message in e.value.message, e.value.message
    assert "\n" not in e.value.message
    if hint:
        assert hint in e.value.hint


def test_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)
    p = tmp_path / "big.toml"
    p.write_text('name = "x"\n' * 10)
    monkeypatch.setenv(limits.env_name("MAX_FILE_BYTES"), "20")
    with pytest.raises(ConfigError, match="over the limit MAX_FILE_BYTES=20") as e:
        load_config(p)
    assert e.value.hint == limits.over_limit_hint("MAX_FILE_BYTES")


def test_unreadable_file(tmp_path: Path) -> None:
    import os

    p = tmp_path / "c.toml"
    p.write_text("seed = 0\n")
    p.chmod(0)
    try:
        if os.access(p, os.R_OK):
            pytest.skip("running as root: permissions do not apply")
        with pytest.raises(ConfigError, match="cannot read the config"):
            load_config(p)
    finally:
        p.chmod(0o644)


def test_bom_is_accepted(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_bytes(b"\xef\xbb\xbf" + (EXAMPLES / "digits_mlp.toml").read_bytes())
    assert load_config(p).name == "digits_mlp"

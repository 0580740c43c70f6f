"""Bounded fuzzing of the TOML config loader: whatever the input, the only exception is `ConfigError`.

Three sources: random bytes (through `load_config`), random documents whose keys are the real key
names plus junk and whose values are of every TOML type (through `parse_config`, and written as
TOML through `load_config`), and a valid config mutated at random paths (set, delete, rename, add,
also as text with bytes inserted or dropped). Each property runs a few seconds (``max_examples``
below; ``EDGETRAIN_FUZZ_EXAMPLES`` scales them for a longer hunt). Inputs that once crashed the
loader are kept as explicit regression cases (`REGRESSIONS`).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgetrain.config import TrainConfig, load_config, parse_config
from edgetrain.errors import ConfigError

SCALE = float(os.environ.get("EDGETRAIN_FUZZ_EXAMPLES", "1"))
FUZZ = settings(max_examples=int(300 * SCALE), deadline=None, suppress_health_check=[HealthCheck.too_slow])

GOOD: dict[str, Any] = {
    "name": "t", "seed": 0,
    "data": {"source": "digits", "test_size": 0.3, "val_size": 0.1, "split_seed": 1},
    "model": {"layers": [{"type": "dense", "units": 8, "activation": "relu"}, {"type": "leaky_relu", "alpha": 0.1},
                         {"type": "residual", "layers": [{"type": "dense", "units": 8}]},
                         {"type": "dense", "units": 3}]},
    "train": {"epochs": 2, "batch_size": 16, "loss": "cross_entropy", "early_stopping": 3,
              "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-4}},
    "techniques": {"set": {"eps": 5, "zeta": 0.3}},
}

KEYS = ["name", "seed", "data", "model", "train", "techniques", "source", "test_size", "val_size", "split_seed",
        "layers", "type", "units", "activation", "bias", "trainable", "alpha", "epochs", "batch_size", "loss",
        "early_stopping", "optimizer", "lr", "momentum", "weight_decay", "beta1", "beta2", "eps", "set", "motif",
        "prune", "zeta", "sparsity", "m", "start_epoch", "end_epoch", "then", "init", "regrow_scale", "lr_scale"]
WORDS = ["dense", "relu", "residual", "leaky_relu", "softmax", "adam", "sgd", "Adam", "digits", "iris", "mse",
         "cross_entropy", "freeze", "keep", "dense1", ""]

keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8))
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-2**70, max_value=2**70), st.sampled_from([0, 1, -1, 2**32, 10**12, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 0.5, 1.0, 1e-300, 1e308]),
    st.sampled_from(WORDS), st.text(max_size=12),
    st.datetimes(), st.dates(), st.times(),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(keys, inner, max_size=5)), max_leaves=25)
documents = st.dictionaries(keys, values, max_size=7)

# Config-shaped documents: GOOD with up to three of its keys (at any depth) dropped, given a nearby
# value (a real word, a small number, a type swap) or a random one, and now and then an extra key,
# so the checks deep inside (layers, optimizer, techniques) are reached and a fair share is accepted.
nearby = st.one_of(st.integers(-2, 20), st.floats(-1.5, 1.5), st.sampled_from(WORDS), st.booleans())


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    return [p for k, v in children for p in [prefix + (k,), *_paths(v, prefix + (k,))]]


PATHS = _paths(GOOD)


def _apply(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> None:
    def has(node: Any, p: Any) -> bool:
        return isinstance(node, list) and isinstance(p, int) and p < len(node) or isinstance(node, dict) and p in node

    for p in path[:-1]:
        if not has(doc, p):
            return  # an earlier edit removed or replaced the parent
        doc = doc[p]
    if isinstance(doc, dict) and isinstance(path[-1], str):
        if action == "drop":
            doc.pop(path[-1], None)
        else:
            doc[path[-1]] = value
    elif has(doc, path[-1]):
        doc[path[-1]] = value


@st.composite
def config_documents(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD)
    edits = draw(st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(["drop", "nearby", "random"])),
                          max_size=3))
    for path, action in edits:
        _apply(doc, path, action, draw(nearby if action == "nearby" else values))
    if draw(st.booleans()) and draw(st.booleans()):
        table = draw(st.sampled_from([p for p in [(), *PATHS] if isinstance(_get(GOOD, p), dict)]))
        _apply(doc, (*table, draw(keys)), "nearby", draw(st.one_of(nearby, values)))
    return doc


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        node = node[p]
    return node


def toml_text(doc: dict[str, Any]) -> str | None:
    """`doc` as TOML (inline tables), or None if it holds what TOML cannot write (a huge int's text
    is fine: tomllib refuses it, which is the point)."""
    def val(v: Any) -> str | None:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v) if abs(v) < 10**4000 else None
        if isinstance(v, float):
            return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
        if isinstance(v, str):
            return json.dumps(v, ensure_ascii=False)
        if isinstance(v, (dt.datetime, dt.date, dt.time)):
            return v.isoformat()
        if isinstance(v, list):
            parts = [val(x) for x in v]
            return None if None in parts else "[" + ", ".join(parts) + "]"  # type: ignore[arg-type]
        if isinstance(v, dict):
            parts = [val(x) for x in v.values()]
            if None in parts:
                return None
            return "{ " + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {p}" for k, p in zip(v, parts)) + " }"
        return None

    lines = [val(v) for v in doc.values()]
    if None in lines:
        return None
    return "".join(f"{json.dumps(k, ensure_ascii=False)} = {v}\n" for k, v in zip(doc, lines))


def check_parse(doc: Any) -> TrainConfig | None:
    """parse_config on ``doc``: the config, or None for a ConfigError; anything else fails the test."""
    try:
        cfg = parse_config(doc, path=Path("cfg.toml"))
    except ConfigError as e:
        assert e.message.startswith("cfg.toml: ") and "\n" not in e.message, repr(e.message)
        assert "\n" not in (e.hint or ""), repr(e.hint)
        return None
    # What is accepted is well typed: the trainer gets no surprises.
    assert isinstance(cfg.epochs, int) and not isinstance(cfg.epochs, bool) and cfg.epochs >= 1
    assert isinstance(cfg.batch_size, int) and not isinstance(cfg.batch_size, bool) and cfg.batch_size >= 1
    assert isinstance(cfg.name, str) and isinstance(cfg.seed, int) and isinstance(cfg.data["source"], str)
    assert all(math.isfinite(v) for v in cfg.optimizer.values() if isinstance(v, float))
    return cfg


def check_load(data: bytes) -> TrainConfig | None:
    """load_config on ``data`` saved as a file: the config, or None for a ConfigError."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "cfg.toml"
        p.write_bytes(data)
        try:
            return load_config(p)
        except ConfigError as e:
            assert e.message and "\n" not in e.message, repr(e.message)
            return None


def _set(doc: dict[str, Any], path: list[int], key: str, value: Any, how: str) -> dict[str, Any]:
    """A copy of ``doc`` with one node changed: ``path`` picks a child at each level (index modulo
    the number of children, dict keys in sorted order), then the picked table gets ``key`` set to
    ``value`` ("add"), or its child number ``path[-1]`` replaced, deleted or renamed to ``key``."""
    doc = copy.deepcopy(doc)
    node: Any = doc
    *steps, last = path
    for i in steps:
        children = sorted(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        if not children or not isinstance(node[children[i % len(children)]], (dict, list)):
            break
        node = node[children[i % len(children)]]
    if isinstance(node, dict):
        old = sorted(node)[last % len(node)] if node else key
        if how == "add":
            node[key] = value
        elif how == "delete":
            node.pop(old, None)
        elif how == "rename":
            node[key] = node.pop(old, None)
        else:
            node[old] = value
    elif isinstance(node, list) and node:
        if how == "delete":
            del node[last % len(node)]
        else:
            node[last % len(node)] = value
    return doc


mutations = st.lists(st.tuples(st.lists(st.integers(0, 63), min_size=1, max_size=5), keys, values,
                               st.sampled_from(["set", "delete", "rename", "add"])), min_size=1, max_size=4)

GOOD_TEXT = toml_text(GOOD)
assert GOOD_TEXT is not None


def test_the_fuzz_seed_is_valid() -> None:
    assert check_parse(GOOD) is not None and check_load(GOOD_TEXT.encode()) is not None


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    check_load(data)


@FUZZ
@given(documents)
def test_random_documents(doc: dict[str, Any]) -> None:
    check_parse(doc)


@FUZZ
@given(config_documents())
def test_config_shaped_documents(doc: dict[str, Any]) -> None:
    event("accepted" if check_parse(doc) is not None else "refused")
    text = toml_text(doc)
    if text is not None:
        check_load(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(documents)
def test_random_documents_as_toml(doc: dict[str, Any]) -> None:
    text = toml_text(doc)
    if text is not None:
        check_load(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(mutations)
def test_mutated_good_config(muts: list[tuple[list[int], str, Any, str]]) -> None:
    doc = GOOD
    for path, key, value, how in muts:
        doc = _set(doc, path, key, value, how)
    event("accepted" if check_parse(doc) is not None else "refused")
    text = toml_text(doc)
    if text is not None:
        check_load(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.integers(0, len(GOOD_TEXT)), st.integers(0, 8), st.binary(max_size=8))
def test_mutated_good_text(at: int, drop: int, insert: bytes) -> None:
    raw = GOOD_TEXT.encode()
    event("accepted" if check_load(raw[:at] + insert + raw[at + drop:]) is not None else "refused")


# Inputs that crashed the loader before the schema (the first line of the crash in the comment).
REGRESSIONS: list[tuple[str, Any]] = [
    ("layers not a list (TypeError: 'int' object is not iterable)",
     {"data": {"source": "digits"}, "model": {"layers": 3}}),
    ("residual body not a list (TypeError)",
     {"data": {"source": "digits"}, "model": {"layers": [{"type": "residual", "layers": 3}]}}),
    ("layer name a list (TypeError: unhashable type: 'list')",
     {"data": {"source": "digits"}, "model": {"layers": [{"type": "dense", "units": 3, "name": ["a"]}]}}),
    ("optimizer name an int (AttributeError: 'int' object has no attribute 'lower')",
     {"data": {"source": "digits"}, "model": {"layers": [{"type": "relu"}]}, "train": {"optimizer": {"name": 3}}}),
    ("epochs = inf (OverflowError: cannot convert float infinity to integer)",
     {"data": {"source": "digits"}, "model": {"layers": [{"type": "relu"}]}, "train": {"epochs": math.inf}}),
    ("test_size a string (TypeError: '<=' not supported)",
     {"data": {"source": "digits", "test_size": "0.3"}, "model": {"layers": [{"type": "relu"}]}}),
    ("layer type a list (TypeError: unhashable type: 'list')",
     {"data": {"source": "digits"}, "model": {"layers": [{"type": ["dense"]}]}}),
    ("units a string (TypeError in Dense: '<' between str and int)",
     {"data": {"source": "digits"}, "model": {"layers": [{"type": "dense", "units": "x"}]}}),
    ("activation a list (TypeError: unhashable type)",
     {"data": {"source": "digits"}, "model": {"layers": [{"type": "dense", "units": 3, "activation": []}]}}),
    ("the document is not a table (AttributeError)", [1, 2]),
    ("a data table with a non-string key (TypeError sorting the keys)",
     {"data": {"source": "digits", 3: 1}, "model": {"layers": [{"type": "relu"}]}}),
]


@pytest.mark.parametrize("doc", [d for _, d in REGRESSIONS], ids=[n.split(" (")[0] for n, _ in REGRESSIONS])
def test_regressions(doc: Any) -> None:
    assert check_parse(doc) is None


FILE_REGRESSIONS: list[tuple[str, bytes]] = [
    ("not UTF-8 (UnicodeDecodeError)", b'name = "\xff\xfe"\n'),
    ("an integer of 5000 digits (ValueError: Exceeds the limit for integer string conversion)",
     b"seed = " + b"9" * 5000 + b"\n"),
    ("arrays nested 5000 deep (RecursionError in tomllib)", b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
]


@pytest.mark.parametrize("data", [d for _, d in FILE_REGRESSIONS], ids=[n.split(" (")[0] for n, _ in FILE_REGRESSIONS])
def test_file_regressions(data: bytes) -> None:
    assert check_load(data) is None

"""Bounded fuzzing of the .etm loader: whatever the bytes, `load_model` either returns a graph or
raises an edgetrain error (ModelFileError, or InvalidModelError from the graph's own checks).

Three generators, a few seconds each:
(a) byte mutations of a valid file (flip, insert, delete, truncate), deflated and stored;
(b) the zip rebuilt with a mutated JSON description (a random value substituted, or the key
    deleted, at a random key path);
(c) random arrays in place of a parameter's value or attachments (dtype, shape, values with
    NaN/inf, headers that lie about the shape).

The loader's last-resort net (a ModelFileError "model description is inconsistent") counts as a
failure here too: it means a check is missing. Crashing inputs found are kept as explicit cases in
test_modelfile_checks.py (REGRESSIONS). Run with ``-s`` to print the execution counts.
(A last pytest summary line of 4 tests takes ~10 s at the default 300 examples per generator.)
"""
from __future__ import annotations

import io
import json
import math
import os
import struct
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edgetrain as et
from edgetrain.errors import EdgetrainError, InvalidModelError, ModelFileError
from edgetrain.formats.modelfile import graph_to_dict

# Examples per generator; EDGETRAIN_FUZZ_EXAMPLES raises it for a longer hunt.
EXAMPLES = int(os.environ.get("EDGETRAIN_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RUNS: Counter[str] = Counter()  # executions and outcomes per generator (printed at the end)
NET = "model description is inconsistent"


def good_graph() -> et.Graph:
    g = et.Sequential([et.Dense(8, "relu"), et.Dense(3)], 4, seed=0, name="t")
    p = g.params["dense1.weight"]
    p.mask = np.abs(p.value) > 0.05
    p.codebook = np.linspace(-1, 1, 4).astype(np.float32)
    p.indices = np.abs(p.value[..., None] - p.codebook).argmin(-1)
    g.meta["preprocess"] = {"mean": [0.0] * 4, "std": [1.0] * 4, "source": "d.npz", "seed": 0}
    g.meta["n_classes"] = 3
    from edgetrain.graph import QParams

    g.params["dense2.weight"].qparams = QParams(np.full(3, 0.05), np.zeros(3, np.int64), 8, 1)
    return g


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


class Work(dict):
    """The fixture's files and bytes, with a short repr (hypothesis prints it with a failing case)."""

    def __repr__(self) -> str:
        return f"Work({self['dir']})"


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("fuzz_etm")
    deflated = et.save_model(good_graph(), d / "good.etm").read_bytes()
    with zipfile.ZipFile(io.BytesIO(deflated)) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    yield Work(dir=d, deflated=deflated, stored=stored.getvalue(), members=members)
    print(f"\nfuzz executions: {dict(sorted(RUNS.items()))}")


def load(path: Path, data: bytes, kind: str) -> None:
    """Write ``data`` to ``path`` and load it; only edgetrain errors may come out."""
    path.write_bytes(data)
    RUNS[kind] += 1
    try:
        et.load_model(path)
    except ModelFileError as e:
        assert NET not in e.message, f"the safety net caught what a check should: {e.message}"
        assert "\n" not in e.message and e.hint
        RUNS[f"{kind}:refused"] += 1
        return
    except InvalidModelError:
        RUNS[f"{kind}:invalid"] += 1
        return
    except EdgetrainError as e:  # pragma: no cover - a different error class is a contract breach
        raise AssertionError(f"{type(e).__name__} from a model file: {e}")
    RUNS[f"{kind}:loaded"] += 1


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for k, v in members.items():
            z.writestr(k, v)
    return buf.getvalue()


# ---------------------------------------------------------------- (a) bytes

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.none()),
    st.tuples(st.just("u32"), st.integers(0, 10**6), st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFF0000])),
)


def mutate(raw: bytes, ops: list[tuple[str, int, Any]]) -> bytes:
    b = bytearray(raw)
    for op, pos, arg in ops:
        if not b:
            break
        pos %= len(b)
        if op == "flip":
            b[pos] ^= arg
        elif op == "insert":
            b[pos:pos] = arg
        elif op == "delete":
            del b[pos:pos + arg]
        elif op == "truncate":
            del b[pos:]
        elif op == "u32" and pos + 4 <= len(b):  # a size or offset field rewritten
            struct.pack_into("<I", b, pos, arg)
    return bytes(b)


@FUZZ
@given(which=st.sampled_from(["deflated", "stored"]), ops=st.lists(mutation, min_size=1, max_size=4))
def test_fuzz_byte_mutations(work: dict[str, Any], which: str, ops: list[tuple[str, int, Any]]) -> None:
    load(work["dir"] / "bytes.etm", mutate(work[which], ops), "bytes")


# ---------------------------------------------------------------- (b) the JSON description

json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.sampled_from([0, 1, -1, 2, 8, 32, 99])
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    | st.sampled_from(["dense", "relu", "leaky_relu", "flatten", "add", "identity", "value", "mask", "input",
                       "dense1", "dense1.weight", "edgetrain-model"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def key_paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path in a JSON document (the root excluded)."""
    out = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        out.append(prefix + (k,))
        out.extend(key_paths(v, prefix + (k,)))
    return out


@FUZZ
@given(data=st.data())
def test_fuzz_json_description(work: dict[str, Any], data: st.DataObject) -> None:
    doc = json.loads(work["members"]["edgetrain.json"])
    paths = key_paths(doc)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        path = data.draw(st.sampled_from(paths), label="path")
        parent = doc
        try:
            for k in path[:-1]:
                parent = parent[k]
            if data.draw(st.booleans(), label="delete") and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(json_value, label="value")
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed or replaced this path
    members = dict(work["members"], **{"edgetrain.json": json.dumps(doc).encode()})
    load(work["dir"] / "json.etm", zip_of(members), "json")


# ---------------------------------------------------------------- (c) arrays

DTYPES = ["<f2", "<f4", ">f4", "<f8", "<i1", "<i8", "<u2", "|b1", "<c8", "<U3", "|S2", "<m8[s]", "<M8[D]"]
shape = st.lists(st.integers(0, 9), min_size=0, max_size=3).map(tuple)
# Each target's own shape and dtypes: half the draws are plausible, so the value checks
# (NaN/inf, index ranges, shapes against the graph) are reached, not only the dtype refusals.
TARGETS = {"dense1.weight/value": ((4, 8), ["<f4", "<f8", ">f4", "<f2"]), "dense1.weight/mask": ((4, 8), ["|b1"]),
           "dense1.weight/codebook": ((4,), ["<f4", "<f8"]), "dense1.weight/indices": ((4, 8), ["<i8", "<u1", "<i2"]),
           "dense1.bias/value": ((8,), ["<f4"]), "dense2.weight/value": ((8, 3), ["<f4"])}


@st.composite
def arrays(draw: st.DrawFn, target: str) -> bytes:
    own_shape, own_dtypes = TARGETS[target]
    plausible = draw(st.booleans())
    name = draw(st.sampled_from(own_dtypes if plausible else DTYPES + ["structured"]))
    dt = np.dtype([("a", "<f4"), ("b", "<i2")]) if name == "structured" else np.dtype(name)
    shp = own_shape if plausible else draw(shape)
    n = math.prod(shp)
    if plausible and dt.kind in "iu":  # cluster indices, mostly in range of the 4-entry codebook
        lo = -1 if dt.kind == "i" else 0
        arr = np.array(draw(st.lists(st.integers(lo, 5), min_size=n, max_size=n)), dt).reshape(shp)
    elif plausible and dt.kind == "f":
        arr = np.array(draw(st.lists(st.floats(-10, 10, width=32), min_size=n, max_size=n)), dt).reshape(shp)
    else:
        raw = draw(st.binary(min_size=n * dt.itemsize, max_size=n * dt.itemsize))
        arr = np.frombuffer(raw, dt, n).reshape(shp) if n else np.zeros(shp, dt)
    if dt.kind == "f" and n and draw(st.booleans()):
        arr = arr.copy()
        arr.flat[draw(st.integers(0, n - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e38, 0.0]))
    if draw(st.booleans()):
        arr = np.asfortranarray(arr)
    data = npy(arr)
    lie = "none" if plausible else draw(st.sampled_from(["none", "none", "shape", "cut", "pad"]))
    if lie == "shape":  # the header claims another shape over the same data
        claimed = draw(st.lists(st.integers(-2, 2**40), min_size=1, max_size=3).map(tuple))
        header = repr({"descr": np.lib.format.dtype_to_descr(dt), "fortran_order": False, "shape": claimed}).encode()
        header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
        data = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + data[128:]
    elif lie == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif lie == "pad":
        data += draw(st.binary(min_size=1, max_size=16))
    return data


@FUZZ
@given(draw=st.data())
def test_fuzz_arrays(work: dict[str, Any], draw: st.DataObject) -> None:
    target = draw.draw(st.sampled_from(sorted(TARGETS)), label="target")
    data = draw.draw(arrays(target), label="npy")
    members = dict(work["members"], **{f"arrays/{target}.npy": data})
    load(work["dir"] / "arrays.etm", zip_of(members), "arrays")


def test_fuzz_fixture_file_is_valid(work: dict[str, Any]) -> None:
    """The seed the mutations start from loads (else every mutation would be trivially refused)."""
    g = et.load_model(work["dir"] / "good.etm")
    assert graph_to_dict(g) == graph_to_dict(good_graph())

"""Hostile model, layer and tensor names never become code, and never steer where files go.

Every entry point that can name a model or a layer (the Python API and .etm files, a TOML config,
ONNX import with --name and with its own node names) is fed names that try to end a C comment,
start a preprocessor line, splice lines, escape a path, or are NUL-laden, very long or non-ASCII.
The generated C must compile warning-free (-std=c99 -Wall -Wextra -Werror -pedantic) and its
object code must be the one of the same model with clean names: same sections, sizes, data and
instruction stream (only symbol names may differ), so no injected function or data can hide.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import edgetrain as et
from edgetrain.cli import main
from edgetrain.export.c import export_c
from edgetrain.export.c.arrays import MAX_IDENT, RESERVED, c_comment_text, c_identifier
from edgetrain.export.c.train_plan import export_training_c
from edgetrain.export.c.train_program import DeviceTrainConfig
from edgetrain.interop.onnx import build_inference_model
from edgetrain.interop.onnx.importer import import_onnx
from edgetrain.outputs import safe_file_stem

from helpers import run_cli

HOSTILE = [
    "*/",
    "*/ int evil(void){return 1;} /*",
    "\n#include <stdio.h>",
    '"',
    "../",
    "a\x00b",
    "x" * 300,
    "模型",
    "é",
    "??/",  # a trigraph for backslash: with a newline after it, a line splice
    "a\\",
    "/*/",
    "int",  # a C keyword
    "et_model_infer",  # a name edgetrain itself defines
]
IDS = [f"h{i}" for i in range(len(HOSTILE))]
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-c"]
CALIB = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
CLEAN_CACHE: dict[tuple, dict] = {}
STDIO_LINE = re.compile(r"^\s*#\s*include\s*<stdio", re.M)  # an injected preprocessor line


@pytest.fixture
def tools(host_cc):
    for tool in ("objdump", "size"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found (Debian package: binutils)")
    return host_cc


# ---------------------------------------------------------------- models

def layer_names(h: str) -> list[str]:
    """Seven distinct names built from ``h`` (input, dense, relu, residual dense/relu, add, dense)."""
    return [h, f"{h}*/1", f"{h}/*2", f"{h}\n3", f"{h}\\4", f"{h}\x005", f"{h}??6"]


def inference_model(names: list[str], graph_name: str) -> et.Graph:
    b = et.GraphBuilder(64, seed=3, name=graph_name, input_name=names[0])
    x = b.dense(b.input, 24, name=names[1])
    x = b.node("relu", [x], name=names[2])
    x = b.residual(x, [et.Dense(24, name=names[3]), et.ReLU(name=names[4])], name=names[5])
    return b.build(b.dense(x, 10, name=names[6]))


def clean_inference_model() -> et.Graph:
    return inference_model([f"l{i}" for i in range(7)], "clean")


def training_model(names: list[str], graph_name: str) -> et.Graph:
    b = et.GraphBuilder(64, seed=5, name=graph_name, input_name=names[0])
    x = b.dense(b.input, 24, name=names[1])
    x = b.node("relu", [x], name=names[2])
    x = b.dense(x, 16, name=names[3])
    x = b.node("relu", [x], name=names[4])
    g = b.build(b.dense(x, 10, name=names[5]))
    et.set_trainable(g, "last:2")
    return g


def clean_training_model() -> et.Graph:
    return training_model([f"l{i}" for i in range(7)], "clean")


# ---------------------------------------------------------------- compile and compare

def compile_dir(out: Path, sources: list[str], cc: str) -> dict[str, Path]:
    """Compile ``sources`` of an export with the strictest warnings; the objects, by source."""
    obj = out.parent / f"{out.name}.obj"
    obj.mkdir()
    cmd = [cc, *CFLAGS, f"-I{out}", f"-I{out / 'runtime' / 'include'}", f"-I{out / 'runtime' / 'src'}",
           *[str(out / s) for s in sources]]
    res = subprocess.run(cmd, cwd=obj, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return {s: obj / (Path(s).stem + ".o") for s in sources}


IGNORED_SECTIONS = {".comment", ".strtab", ".note.GNU-stack", ".note.gnu.property", ".shstrtab"}


def signature(o: Path) -> dict:
    """What an object file does, without its symbol names: every section's size (relocations and
    the symbol table count entries, not names), the bytes of its data sections, and the
    instruction stream with symbol references and numbers blanked."""
    sizes = {}
    for line in subprocess.run(["size", "-A", str(o)], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith(".") and parts[0] not in IGNORED_SECTIONS:
            sizes[parts[0]] = int(parts[1])
    data = {}
    for sec in (s for s in sizes if s.startswith((".rodata", ".data"))):
        dump = subprocess.run(["objdump", "-s", "-j", sec, str(o)], capture_output=True, text=True, check=True).stdout
        data[sec] = [ln.split()[1:5] for ln in dump.splitlines() if re.match(r"^ [0-9a-f]{4,} ", ln)]
    asm = []
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", str(o)], capture_output=True, text=True,
                         check=True).stdout
    for ln in dis.splitlines():
        m = re.match(r"^\s+[0-9a-f]+:\s+(.*)$", ln)
        if m:
            ins = re.sub(r"<[^>]*>", "<sym>", m.group(1))
            asm.append(re.sub(r"(0x)?[0-9a-f]+\b", "#", ins))
    return {"sizes": sizes, "data": data, "asm": asm}


def signatures(objs: dict[str, Path]) -> dict[str, dict]:
    return {s: signature(o) for s, o in objs.items()}


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def assert_only_inside(before: set[Path], root: Path, *allowed: Path) -> None:
    new = files_under(root) - before
    stray = [p for p in new if not any(p == a or a in p.parents for a in allowed)]
    assert not stray, stray


def clean_export(kind: str, dtype: str, tmp_path_factory, cc: str) -> dict:
    key = (kind, dtype)
    if key not in CLEAN_CACHE:
        out = tmp_path_factory.mktemp("clean") / f"{kind}_{dtype}"
        if kind == "infer":
            export_c(clean_inference_model(), "host", out, dtype=dtype, calib_x=CALIB if dtype == "int8" else None)
            CLEAN_CACHE[key] = signatures(compile_dir(out, ["model.c", "model_data.c"], cc))
        else:
            export_training_c(clean_training_model(), "host", out, DeviceTrainConfig(body=dtype, batch=2),
                              calib_x=CALIB if dtype == "int8" else None)
            CLEAN_CACHE[key] = signatures(compile_dir(out, ["train_model.c", "train_model_data.c"], cc))
    return CLEAN_CACHE[key]


def check_inference_export(graph: et.Graph, out: Path, dtype: str, tmp_path_factory, cc: str) -> None:
    export_c(graph, "host", out, dtype=dtype, calib_x=CALIB if dtype == "int8" else None)
    text = "".join((out / f).read_text() for f in ("model.h", "model.c", "model_data.h", "model_data.c"))
    assert text.isascii() and not STDIO_LINE.search(text)
    got = signatures(compile_dir(out, ["model.c", "model_data.c"], cc))
    assert got == clean_export("infer", dtype, tmp_path_factory, cc)


# ---------------------------------------------------------------- the helpers themselves

C_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=120), min_size=1, max_size=8))
def test_c_identifier_is_valid_unique_and_stable(names):
    taken: set[str] = set()
    idents = [c_identifier(n, taken) for n in names]
    assert len(set(idents)) == len(idents)
    for n, ident in zip(names, idents):
        assert C_IDENT.match(ident) and len(ident) <= MAX_IDENT and ident not in RESERVED, (n, ident)
    again: set[str] = set()
    assert [c_identifier(n, again) for n in names] == idents  # deterministic (no salted hash)


def test_c_identifier_forms_keep_derived_symbols_apart():
    taken = {"et_train_value_z_bias"}
    ident = c_identifier("z_bias", taken, forms=("{}", "et_train_value_{}"))
    assert ident == "z_bias_2" and "et_train_value_z_bias_2" in taken
    long_a, long_b = "q" * 200 + "a", "q" * 200 + "b"
    assert c_identifier(long_a, set()) != c_identifier(long_b, set())  # cut, but told apart by a hash


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=200))
def test_c_comment_text_is_inert_inside_a_comment(text):
    out = c_comment_text(text)
    assert out.isascii() and all(" " <= ch <= "~" for ch in out)
    for bad in ("*/", "/*", "??"):
        assert bad not in out
    assert not out.startswith(("*", "/", "?")) and not out.endswith(("*", "/", "?", "\\"))
    assert len(out) <= 80 + 3


@pytest.mark.parametrize("name, stem", [
    ("../../x", "x"), ("a/b", "a_b"), ("..", "model"), (".hidden", "hidden"), ("a\x00b", "a_b"),
    ("-rf", "rf"), ("模型", "模型"), ("", "model"), ("x" * 300, "x" * 120), ("C:\\evil", "C__evil"),
])
def test_safe_file_stem(name, stem):
    assert safe_file_stem(name) == stem
    assert "/" not in stem and "\x00" not in stem and not stem.startswith(".")


# ---------------------------------------------------------------- Python API and .etm files

@pytest.mark.parametrize("dtype", ["f32", "int8"])
@pytest.mark.parametrize("h", HOSTILE, ids=IDS)
def test_hostile_names_through_the_api_and_model_files(h, dtype, tmp_path, tmp_path_factory, tools):
    before = files_under(tmp_path)
    graph = inference_model(layer_names(h), h)
    path = et.save_model(graph, tmp_path / "m.etm")
    back = et.load_model(path)
    assert back.name == h and [n.name for n in back.nodes] == [n.name for n in graph.nodes]
    out = tmp_path / "c"
    check_inference_export(back, out, dtype, tmp_path_factory, tools)
    assert_only_inside(before, tmp_path, out, path, tmp_path / "c.obj")


@pytest.mark.parametrize("body", ["f32", "int8"])
@pytest.mark.parametrize("h", HOSTILE, ids=IDS)
def test_hostile_names_in_the_on_device_training_export(h, body, tmp_path, tmp_path_factory, tools):
    before = files_under(tmp_path)
    out = tmp_path / "train_c"
    export_training_c(training_model(layer_names(h), h), "host", out, DeviceTrainConfig(body=body, batch=2),
                      calib_x=CALIB if body == "int8" else None)
    text = "".join((out / f).read_text() for f in ("train_model.h", "train_model.c", "train_model_data.c"))
    assert text.isascii() and not STDIO_LINE.search(text)
    got = signatures(compile_dir(out, ["train_model.c", "train_model_data.c"], tools))
    assert got == clean_export("train", body, tmp_path_factory, tools)
    assert_only_inside(before, tmp_path, out, tmp_path / "train_c.obj")


def test_parameter_symbols_never_clash_with_array_names(tmp_path, tools):
    # An int8 body layer "value_z" has an array et_train_value_z_eff_bias; a head layer "z_eff"
    # with a bias would define the RAM copy et_train_value_z_eff_bias: the same symbol.
    b = et.GraphBuilder(64, seed=1, name="clash")
    x = b.dense(b.input, 16, "relu", name="value_z")
    g = b.build(b.dense(x, 10, name="z_eff"))
    et.set_trainable(g, "last:1")
    out = tmp_path / "train_c"
    export_training_c(g, "host", out, DeviceTrainConfig(body="int8"), calib_x=CALIB)
    compile_dir(out, ["train_model.c", "train_model_data.c"], tools)


# ---------------------------------------------------------------- TOML configs

def toml_config(h: str) -> str:
    q = json.dumps(h)  # a JSON string is a valid TOML basic string
    return f"""name = {q}
seed = 0
[data]
source = "digits"
[model]
layers = [ {{ type = "dense", units = 24, activation = "relu", name = {json.dumps(h + "*/a")} }},
           {{ type = "dense", units = 10, name = {q} }} ]
[train]
epochs = 1
"""


@pytest.mark.parametrize("h", HOSTILE + ["../../x", "/etc/x", "..", ".bashrc"], ids=IDS + ["up2", "abs", "dotdot",
                                                                                         "dotfile"])
def test_hostile_toml_name_stays_inside_out(h, tmp_path, monkeypatch, tools, capsys):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    (work / "cfg.toml").write_text(toml_config(h), encoding="utf-8")
    monkeypatch.chdir(work)
    before = files_under(tmp_path)
    main(["train", "cfg.toml", "--quiet", "--json"])
    doc = json.loads(capsys.readouterr().out)
    model = Path(doc["output"])
    assert model.parent == Path("out") and model.name == f"{safe_file_stem(h)}.etm"
    assert_only_inside(before, tmp_path, work / "out")
    graph = et.load_model(model)
    assert graph.name == h
    out = work / "out" / "c"
    export_c(graph, "host", out, dtype="f32")
    compile_dir(out, ["model.c", "model_data.c"], tools)


# ---------------------------------------------------------------- ONNX import

def hostile_onnx(h: str, path: Path) -> Path:
    """The clean model's ONNX file with its graph, node and tensor names replaced by hostile ones."""
    model = build_inference_model(clean_inference_model())
    model.graph.name = h
    rename = {}
    for i, node in enumerate(model.graph.node):
        node.name = f"{h}#{i}"
        for k, o in enumerate(node.output):
            if o not in {v.name for v in model.graph.output}:
                rename[o] = f"{h}~{i}.{k}"
    rename[model.graph.input[0].name] = f"{h}~in"
    for node in model.graph.node:
        node.input[:] = [rename.get(t, t) for t in node.input]
        node.output[:] = [rename.get(t, t) for t in node.output]
    model.graph.input[0].name = rename[model.graph.input[0].name]
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("h", HOSTILE, ids=IDS)
def test_hostile_onnx_names_and_import_name(h, tmp_path, tmp_path_factory, tools):
    clean_path = tmp_path / "clean.onnx"
    clean_path.write_bytes(build_inference_model(clean_inference_model()).SerializeToString())
    ref_out = tmp_path / "ref"
    export_c(import_onnx(clean_path, name="clean"), "host", ref_out, dtype="f32")
    ref = signatures(compile_dir(ref_out, ["model.c", "model_data.c"], tools))

    path = hostile_onnx(h, tmp_path / "h.onnx")
    for i, name in enumerate([None, h]):
        before = files_under(tmp_path)
        graph = import_onnx(path, name=name)
        out = tmp_path / f"c{i}"
        export_c(graph, "host", out, dtype="f32")
        assert signatures(compile_dir(out, ["model.c", "model_data.c"], tools)) == ref
        assert_only_inside(before, tmp_path, out, tmp_path / f"c{i}.obj")
    if "\x00" not in h:  # argv cannot carry a NUL
        etm = tmp_path / "imported.etm"
        r = run_cli("import", "onnx", path, "-o", etm, "--name", h)
        assert r.returncode == 0, r.stderr
        assert et.load_model(etm).name == h
        r = run_cli("export", "c", etm, "-t", "host", "--dtype", "f32", "-o", tmp_path / "cli_c", "--json")
        assert r.returncode == 0, r.stderr
        assert signatures(compile_dir(tmp_path / "cli_c", ["model.c", "model_data.c"], tools)) == ref

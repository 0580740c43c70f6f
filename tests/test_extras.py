"""The core install has no ONNX or TFLite packages: the commands that need them say which extra
to install (one line, exit 2), and the core commands never import them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import edgetrain as et

from codegen_models import mlp_64_32_10

# Runs the CLI with the extras' packages made unimportable (as if never installed).
HIDE = r"""
import importlib.abc, importlib.util, sys
HIDDEN = ("onnx", "onnxruntime", "tflite", "flatbuffers", "tflite_micro", "ai_edge_litert", "torch")
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Hide())
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in HIDDEN else _find(name, *a)
from edgetrain.cli import main
main(sys.argv[1:])
"""


def run(tmp: Path, *args: object) -> subprocess.CompletedProcess[str]:
    (tmp / "hide.py").write_text(HIDE)
    return subprocess.run([sys.executable, "hide.py", *map(str, args)], capture_output=True, text=True, cwd=tmp)


def test_interop_commands_name_their_extra(tmp_path: Path) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "m.etm")
    for args, extra in ((("export", "onnx", model, "-o", tmp_path / "o"), "onnx"),
                        (("import", "onnx", tmp_path / "x.onnx", "-o", tmp_path / "x.etm"), "onnx"),
                        (("export", "tflite", model, "-o", tmp_path / "m.tflite"), "tflite"),
                        (("info", tmp_path / "m.tflite"), "tflite")):
        r = run(tmp_path, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert f"needs the {extra} extra" in r.stderr and f"pip install 'edgetrain[{extra}]'" in r.stderr


def test_core_commands_run_without_the_extras(tmp_path: Path, host_cc: str) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "m.etm")
    assert run(tmp_path, "info", model).returncode == 0
    r = run(tmp_path, "eval", model, "--data", "digits:test")
    assert r.returncode == 0, r.stderr
    r = run(tmp_path, "export", "c", model, "-t", "host", "-o", tmp_path / "c")
    assert r.returncode == 0, r.stderr
    r = run(tmp_path, "emulate", model, "-t", "host", "--limit", "10")
    assert r.returncode == 0, r.stderr

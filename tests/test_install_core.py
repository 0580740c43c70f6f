"""The core install: what every command but the ONNX, TFLite and report ones needs.

The extras' packages (onnx, onnxruntime-training-cpu, tflite, flatbuffers, matplotlib) are only in
extras, and importing edgetrain and running the core commands (train, info, eval, export c,
emulate, finetune, targets) never tries to import them: the commands run in a subprocess where
those modules cannot be found and every attempt is recorded (tests/without_extras.py). The
commands that need an extra are checked in tests/test_extras.py. tests/core-tests.txt, the subset
`make test-pythons` runs on every Python, holds only files that run on the core install.
"""
from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from edgetrain.extras import EXTRAS

from without_extras import HIDDEN, import_attempts, run_without_extras

ROOT = Path(__file__).resolve().parent.parent

TINY = """\
name = "tiny"
seed = 0
[data]
source = "digits"
test_size = 0.3
val_size = 0.1
[model]
layers = [ { type = "dense", units = 16, activation = "relu" }, { type = "dense", units = 10 } ]
[train]
epochs = 2
batch_size = 32
[train.optimizer]
name = "adam"
lr = 0.003
"""

# The distribution names of the extras' packages, and the extra each belongs to.
EXTRA_PACKAGES = {"onnx": "onnx", "onnxruntime-training-cpu": "onnx", "tflite": "tflite",
                  "flatbuffers": "tflite", "matplotlib": "report"}


def requirement_name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower()


def test_extras_packages_are_only_in_extras() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {requirement_name(r) for r in project["dependencies"]}
    assert not core & set(EXTRA_PACKAGES), core
    extras = project["optional-dependencies"]
    for package, extra in EXTRA_PACKAGES.items():
        assert package in {requirement_name(r) for r in extras[extra]}, (package, extra)
    # edgetrain.extras names the same extras (its hint is `pip install 'edgetrain[EXTRA]'`)
    assert set(EXTRAS) <= set(extras)


def check(r: subprocess.CompletedProcess[str], what: str) -> None:
    assert r.returncode == 0 and "Traceback" not in r.stderr, (what, r.returncode, r.stderr[-2000:])


def test_core_commands_never_import_the_extras(tmp_path: Path) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    for args in (("train", "tiny.toml", "-o", "m.etm"),
                 ("info", "m.etm"),
                 ("eval", "m.etm", "--data", "digits:test"),
                 ("export", "c", "m.etm", "-t", "host", "--dtype", "f32", "-o", "c_f32"),
                 ("export", "c", "m.etm", "-t", "stm32f405", "-o", "c_int8"),
                 ("targets",)):
        check(run_without_extras(tmp_path, *args), args)
    assert (tmp_path / "c_f32").is_dir() and (tmp_path / "c_int8").is_dir()
    assert import_attempts(tmp_path) == []


def test_core_firmware_commands_never_import_the_extras(tmp_path: Path, host_cc: str) -> None:
    (tmp_path / "tiny.toml").write_text(TINY)
    for args in (("train", "tiny.toml", "-o", "m.etm"),
                 ("emulate", "m.etm", "-t", "host", "--dtype", "f32", "--limit", "20"),
                 ("finetune", "m.etm", "-t", "host", "--data", "digits:train", "--steps", "5",
                  "-o", "tuned.etm")):
        check(run_without_extras(tmp_path, *args), args)
    assert (tmp_path / "tuned.etm").is_file()
    assert import_attempts(tmp_path) == []


def test_import_edgetrain_imports_no_extra() -> None:
    code = ("import sys, edgetrain, edgetrain.cli; "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HIDDEN!r}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout


def top_level_imports(path: Path) -> set[str]:
    """The top-level packages a test file imports at module level (not inside functions)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
            if node.module.startswith("edgetrain.interop") or node.module == "edgetrain.report_html":
                names.add(node.module)
    return names


def core_test_files() -> list[Path]:
    lines = (ROOT / "tests" / "core-tests.txt").read_text().splitlines()
    return [ROOT / ln.split("#")[0].strip() for ln in lines if ln.split("#")[0].strip()]


def test_core_test_list_runs_on_the_core_install() -> None:
    files = core_test_files()
    assert files and len(set(files)) == len(files)
    assert ROOT / "tests" / "test_install_core.py" in files
    for f in files:
        assert f.is_file(), f"tests/core-tests.txt names {f}, which does not exist"
        bad = {m for m in top_level_imports(f)
               if m in HIDDEN or m == "unicorn" or m.startswith(("edgetrain.interop", "edgetrain.report_html"))}
        assert not bad, f"{f.name} imports {sorted(bad)} at module level: not a core test"

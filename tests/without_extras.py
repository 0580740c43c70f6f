"""Run the CLI in a subprocess as a core-only install would: the extras' packages (and the test-only
runtimes) cannot be imported, and ``importlib.util.find_spec`` reports them missing. Every attempt
to import one is written to ``attempts.txt`` in the working directory, so a test can tell "never
imported" from "imported, failed, and the failure was swallowed"."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

#: the extras' top-level modules (edgetrain.extras.EXTRAS) and the test extra's runtimes
HIDDEN = ("onnx", "onnxruntime", "tflite", "flatbuffers", "matplotlib",
          "tflite_micro", "ai_edge_litert", "torch")

SCRIPT = r"""
import importlib.abc, importlib.util, sys
HIDDEN = %r
LOG = open("attempts.txt", "a")
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            LOG.write(name + "\n"); LOG.flush()
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Hide())
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in HIDDEN else _find(name, *a)
from edgetrain.cli import main
main(sys.argv[1:])
""" % (HIDDEN,)


def run_without_extras(cwd: Path, *args: object) -> subprocess.CompletedProcess[str]:
    """``edgetrain ARGS`` in ``cwd`` with the extras hidden."""
    (cwd / "without_extras.py").write_text(SCRIPT)
    return subprocess.run([sys.executable, "without_extras.py", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def import_attempts(cwd: Path) -> list[str]:
    log = cwd / "attempts.txt"
    return log.read_text().split() if log.exists() else []

"""The core install has no ONNX, TFLite or matplotlib packages: the commands that need them say
which extra to install (one error line naming it, one hint line, exit 2, no traceback). That the
core commands never import them is tests/test_install_core.py."""
from __future__ import annotations

from pathlib import Path

import edgetrain as et

from codegen_models import mlp_64_32_10
from without_extras import run_without_extras as run


def test_interop_commands_name_their_extra(tmp_path: Path) -> None:
    model = et.save_model(mlp_64_32_10(), tmp_path / "m.etm")
    for args, extra in ((("export", "onnx", model, "-o", tmp_path / "o"), "onnx"),
                        (("import", "onnx", tmp_path / "x.onnx", "-o", tmp_path / "x.etm"), "onnx"),
                        (("ort-train", tmp_path, "--data", "digits:train", "-o", tmp_path / "t"), "onnx"),
                        (("export", "tflite", model, "-o", tmp_path / "m.tflite"), "tflite"),
                        (("info", tmp_path / "m.tflite"), "tflite"),
                        (("report", model, "-o", tmp_path / "m.html"), "report")):
        r = run(tmp_path, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and f"needs the {extra} extra" in errors[0], (args, r.stderr)
        assert f"pip install 'edgetrain[{extra}]'" in r.stderr, (args, r.stderr)
        assert not (tmp_path / "m.html").exists() and not (tmp_path / "o").exists()

"""Every command's --json follows docs/json.md: one object, `schema` and `command` first, and the
shared keys mean one thing everywhere (`model` is the model's name, `model_file` what was read,
`output` what was written, `ran_on` a board name, `data` the samples used)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from edgetrain.cli import cli
from edgetrain.cli.output import JSON_SCHEMA, SHARED_KEYS
from edgetrain.targets import list_targets

DOC = Path(__file__).resolve().parent.parent / "docs" / "json.md"
CONFIG = """
name = "json_mlp"
seed = 0
[data]
source = "digits"
[model]
layers = [{ type = "dense", units = 16, activation = "relu" }, { type = "dense", units = 10 }]
[train]
epochs = 2
[train.optimizer]
name = "adam"
lr = 0.003
"""


def commands(group: click.Group = cli, prefix: str = "") -> list[str]:
    out = []
    for name, c in sorted(group.commands.items()):
        out += commands(c, f"{prefix}{name} ") if isinstance(c, click.Group) else [f"{prefix}{name}"]
    return out


def run_json(*args: Any) -> dict[str, Any]:
    r = CliRunner().invoke(cli, [*map(str, args), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def check_shared(doc: dict[str, Any], command: str, model: str | None, model_file: Path | None) -> None:
    assert list(doc)[:2] == ["schema", "command"] and doc["schema"] == JSON_SCHEMA and doc["command"] == command
    if model is not None:
        assert doc["model"] == model, "model is the model's name"
    if model_file is not None:
        assert Path(doc["model_file"]) == model_file and model_file.is_file()
    if doc.get("output") is not None:
        assert Path(doc["output"]).exists(), "output is what the command wrote"
    boards = set(list_targets())
    for key in ("target", "ran_on"):
        if key in doc:
            assert doc[key] in boards, f"{key} is a board name"
    if "runner" in doc:
        assert isinstance(doc["runner"], str) and doc["runner"]
    if "dtype" in doc:
        assert doc["dtype"] in ("int8", "f32")
    if "data" in doc:
        assert {"source", "split", "samples"} <= set(doc["data"]) and doc["data"]["samples"] > 0


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], Path | None]]:
    """Every command run once with --json: {command: (result, the model file it read)}. The
    firmware commands run on the host build (host gcc: always there)."""
    root = tmp_path_factory.mktemp("json")
    (root / "mlp.toml").write_text(CONFIG)
    etm = root / "mlp.etm"
    out: dict[str, tuple[dict[str, Any], Path | None]] = {}
    out["train"] = run_json("train", root / "mlp.toml", "-o", etm, "--quiet"), None
    out["info"] = run_json("info", etm), etm
    out["eval"] = run_json("eval", etm, "--data", "digits:test"), etm
    out["export c"] = run_json("export", "c", etm, "-t", "host", "-o", root / "c"), etm
    out["export onnx"] = run_json("export", "onnx", etm, "-o", root / "onnx", "--ort-artifacts"), etm
    out["export tflite"] = run_json("export", "tflite", etm, "-o", root / "m.tflite"), etm
    out["import onnx"] = run_json("import", "onnx", root / "onnx" / "model.onnx", "-o", root / "i.etm"), \
        root / "onnx" / "model.onnx"
    out["import tflite"] = run_json("import", "tflite", root / "m.tflite", "-o", root / "t.etm"), root / "m.tflite"
    out["emulate"] = run_json("emulate", etm, "-t", "host", "--limit", "20"), etm
    out["finetune"] = run_json("finetune", etm, "-t", "host", "--data", "digits:train", "--steps", "3",
                               "-o", root / "tuned.etm"), etm
    out["ort-train"] = run_json("ort-train", root / "onnx", "--data", "digits:train", "-o", root / "ort"), \
        root / "onnx" / "ort" / "model.etm"
    out["report"] = run_json("report", etm, "-o", root / "r.html", "-t", "stm32f405"), etm
    out["targets"] = run_json("targets"), None
    return out


def test_every_command_is_covered() -> None:
    assert set(commands()) == {"emulate", "eval", "export c", "export onnx", "export tflite", "finetune",
                               "import onnx", "import tflite", "info", "ort-train", "report", "targets", "train"}


def test_shared_keys_mean_one_thing_in_every_command(results) -> None:  # noqa: ANN001
    import edgetrain as et

    assert set(results) == set(commands())
    for command, (doc, model_file) in results.items():
        name = {"targets": None, "import onnx": "", "import tflite": ""}.get(command, "json_mlp")
        if name == "":  # an import names the model it wrote
            name = et.load_model(doc["output"]).name
        check_shared(doc, command, name, model_file)
    writes = {"train", "export c", "export onnx", "export tflite", "import onnx", "import tflite", "finetune",
              "ort-train", "report"}
    assert {c for c, (d, _) in results.items() if d.get("output")} == writes
    assert {c for c, (d, _) in results.items() if "ran_on" in d} == {"emulate", "finetune"}
    assert results["emulate"][0]["ran_on"] == results["finetune"][0]["ran_on"] == "host"
    train = results["train"][0]
    assert [e["epoch"] for e in train["history"]] == [1, 2] and train["data"]["split"] == "train"
    assert isinstance(results["targets"][0]["targets"], list)


def test_the_document_lists_every_shared_key_and_command() -> None:
    text = DOC.read_text()
    shared = re.findall(r"^\| `(\w+)` \|", text.split("## Per command")[0], re.M)
    assert shared == list(SHARED_KEYS)
    for command in commands():
        assert f"`{command}`" in text

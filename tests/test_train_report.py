"""What `train` reports: the restored epoch of early stopping and its validation figures (table
and --json), the per-epoch history in --json, and the warnings about a validation split too small
to stop on."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgetrain.data_sources import model_samples
from edgetrain.engine.executor import predict
from edgetrain.formats.modelfile import load_model
from test_data_sources import cli

TOML = """
name = "es"
seed = 0
[data]
source = "iris"
val_size = {val_size}
[model]
layers = [ {{ type = "dense", units = 16, activation = "relu" }}, {{ type = "dense", units = 3 }} ]
[train]
epochs = 300
batch_size = 16
early_stopping = {patience}
[train.optimizer]
name = "adam"
lr = 0.02
"""


def _config(d: Path, val_size: float = 0.2, patience: int = 3) -> Path:
    p = d / "es.toml"
    p.write_text(TOML.format(val_size=val_size, patience=patience))
    return p


def test_json_reports_the_restored_epoch_its_figures_and_the_history(tmp_path: Path) -> None:
    code, out, err = cli("train", _config(tmp_path), "-o", tmp_path / "m.etm", "--json")
    assert code == 0, err
    rep = json.loads(out)
    stop = rep["early_stopping"]
    history = rep["history"]
    assert stop["stopped_early"] and len(history) == rep["epochs"] < 300
    best = stop["restored_epoch"]
    assert best == stop["best_epoch"] and 1 <= best < rep["epochs"]
    # The restored epoch is the best validation accuracy, first reached (ties keep the earlier).
    accs = [e["val_acc"] for e in history]
    assert best == int(np.argmax(accs)) + 1
    assert stop["val_accuracy"] == rep["val_accuracy"] == history[best - 1]["val_acc"]
    assert stop["val_loss"] == rep["val_loss"] == history[best - 1]["val_loss"]
    assert [e["epoch"] for e in history] == list(range(1, rep["epochs"] + 1))
    assert all({"loss", "val_loss", "val_acc"} <= e.keys() for e in history)
    # The model holds the restored weights: its accuracy on the validation split is that epoch's.
    g = load_model(tmp_path / "m.etm")
    val = model_samples(g, "iris:val")
    assert float((predict(g, val.x).argmax(1) == val.y).mean()) == pytest.approx(stop["val_accuracy"])
    assert rep["warnings"] == []


def test_table_names_the_restored_epoch(tmp_path: Path) -> None:
    code, out, err = cli("train", _config(tmp_path), "-o", tmp_path / "m.etm", "--quiet")
    assert code == 0, err
    row = next(line for line in out.splitlines() if "early stopping" in line)
    assert "restored epoch" in row and "val accuracy" in row and "val loss" in row


def test_a_tiny_validation_split_is_warned_about(tmp_path: Path) -> None:
    """iris with val_size = 0.05: 8 validation samples for 3 classes, fewer than 5 per class."""
    code, out, err = cli("train", _config(tmp_path, val_size=0.05), "-o", tmp_path / "m.etm", "--json")
    assert code == 0, err
    warnings = json.loads(out)["warnings"]
    assert len(warnings) == 1 and "fewer than 5 per class" in warnings[0] and "(8 in all" in warnings[0]
    assert any(line.startswith("warning: the validation split has") for line in err.splitlines())
    code, out, err = cli("train", _config(tmp_path, val_size=0.0), "-o", tmp_path / "m.etm", "--json")
    assert code == 0, err
    assert "no validation split to watch" in json.loads(out)["warnings"][0]
    assert json.loads(out)["early_stopping"]["restored_epoch"] is None

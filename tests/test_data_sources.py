"""Data sources end to end: ``FILE:split`` is the split the training run drew (never the whole
file), predefined-split .npz files, separate train/test files, config-relative paths, and the
``data:`` line and ``data`` JSON field every data-reading command prints."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from edgetrain.cli import main
from edgetrain.config import load_config
from edgetrain.data_sources import model_samples, parse_source
from edgetrain.errors import DataError
from edgetrain.formats.modelfile import load_model
from edgetrain.train_run import train_from_config

TOML = """
name = "t"
seed = 0
[data]
{data}
[model]
layers = [ {{ type = "dense", units = 8, activation = "relu" }}, {{ type = "dense", units = 3 }} ]
[train]
epochs = 3
batch_size = 16
"""


def cli(*args: object, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit status, stdout, stderr)."""
    import os

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main([str(a) for a in args])
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
    finally:
        os.chdir(old)
    return code, out.getvalue(), err.getvalue()


def xy(n: int = 90, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return rng.normal(size=(n, 4)) + y[:, None], y


def config(d: Path, data: str) -> Path:
    p = d / "t.toml"
    p.write_text(TOML.format(data=data))
    return p


def test_parse_source() -> None:
    assert parse_source("digits") == ("digits", None)
    assert parse_source("digits:val") == ("digits", "val")
    assert parse_source("a/b.npz:test") == ("a/b.npz", "test")
    assert parse_source("dir:x/b.npz") == ("dir:x/b.npz", None)  # a colon inside a path
    for bad in ("d.npz:bogus", "digits:", "digits:TEST", ":test"):
        with pytest.raises(DataError) as e:
            parse_source(bad)
        assert "\n" not in str(e.value) and e.value.hint


def test_file_test_split_is_exactly_the_held_out_rows(tmp_path: Path) -> None:
    """The issue's case: ``d.npz:test`` of a single-file data set evaluates the samples the training
    run held out (count and row numbers), not the whole file; the CLI says which it used."""
    x, y = xy()
    d = tmp_path / "cfg"
    d.mkdir()
    np.savez(d / "d.npz", x=x, y=y)
    result = train_from_config(load_config(config(d, 'source = "d.npz"\ntest_size = 0.3\nval_size = 0.2')))
    held_out = result.data.indices["test"]
    assert len(held_out) == 27 and len(set(held_out.tolist())) == 27
    from edgetrain.formats.modelfile import save_model

    model = save_model(result.graph, tmp_path / "m.etm")
    g = load_model(model)
    for split in ("train", "val", "test"):
        s = model_samples(g, f"{d / 'd.npz'}:{split}")
        assert np.array_equal(s.rows, result.data.indices[split]), split
        assert np.array_equal(s.y, y[result.data.indices[split]])
        assert np.allclose(s.x, getattr(result.data, split).x.reshape(len(s.y), -1))
    code, out, err = cli("eval", model, "--data", f"{d / 'd.npz'}:test", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["samples"] == 27 and res["data"] == {"source": str(d / "d.npz"), "split": "test", "samples": 27}
    assert res["accuracy"] == pytest.approx(result.test_accuracy)
    assert f"data: {d / 'd.npz'}, split test, 27 samples" in err.splitlines()
    code, out, err = cli("eval", model, "--data", d / "d.npz", "--json")  # a file alone: all of it
    assert code == 0 and json.loads(out)["data"]["samples"] == 90 and json.loads(out)["data"]["split"] == "all"
    # The digest recognises the file anywhere (a copy elsewhere is the same data) ...
    (tmp_path / "copy.npz").write_bytes((d / "d.npz").read_bytes())
    assert np.array_equal(model_samples(g, f"{tmp_path / 'copy.npz'}:test").rows, held_out)
    # ... and refuses a changed file: it has no held-out split to re-derive.
    np.savez(d / "d.npz", x=x[:80], y=y[:80])
    code, _, err = cli("eval", model, "--data", f"{d / 'd.npz'}:test")
    assert code == 2 and "is not the file this model was trained on" in err


def test_unknown_split_names_are_refused_for_files_and_data_sets(tmp_path: Path) -> None:
    x, y = xy()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    result = train_from_config(load_config(config(tmp_path, 'source = "d.npz"')))
    from edgetrain.formats.modelfile import save_model

    model = save_model(result.graph, tmp_path / "m.etm")
    for source in (f"{tmp_path / 'd.npz'}:bogus", "iris:bogus"):
        code, _, err = cli("eval", model, "--data", source)
        lines = err.strip().splitlines()
        assert code == 2 and lines[0] == f"error: {source}: unknown split 'bogus'" and lines[1].startswith("hint:")


def test_predefined_split_npz(tmp_path: Path) -> None:
    """x_train/y_train/x_test/y_test in one .npz: trained on x_train (less a validation share),
    tested on x_test; ``:test`` (and the file alone) is x_test, ``:val`` the share held out."""
    x, y = xy(120)
    np.savez(tmp_path / "s.npz", x_train=x[:90], y_train=y[:90], x_test=x[90:], y_test=y[90:])
    result = train_from_config(load_config(config(tmp_path, 'source = "s.npz"\nval_size = 0.2')))
    assert result.data.spec["layout"] == "splits"
    assert len(result.data.test) == 30 and len(result.data.val) == 18 and len(result.data.train) == 72
    from edgetrain.formats.modelfile import save_model

    g = load_model(save_model(result.graph, tmp_path / "m.etm"))
    src = str(tmp_path / "s.npz")
    assert len(model_samples(g, f"{src}:test").y) == 30 and model_samples(g, src).split == "test"
    val = model_samples(g, f"{src}:val")
    assert np.array_equal(val.rows, result.data.indices["val"])
    assert len(model_samples(g, f"{src}:train").y) == 72
    # With x_val in the file, that is the validation split.
    np.savez(tmp_path / "v.npz", x_train=x[:80], y_train=y[:80], x_val=x[80:100], y_val=y[80:100],
             x_test=x[100:], y_test=y[100:])
    data = train_from_config(load_config(config(tmp_path, 'source = "v.npz"'))).data
    assert (len(data.train), len(data.val), len(data.test)) == (80, 20, 20)
    np.savez(tmp_path / "half.npz", x_train=x, y_train=y, x_val=x, x_test=x, y_test=y)
    with pytest.raises(DataError, match="x_val without y_val"):
        train_from_config(load_config(config(tmp_path, 'source = "half.npz"')))


def test_separate_train_and_test_files(tmp_path: Path) -> None:
    x, y = xy(120)
    np.savez(tmp_path / "a.npz", x=x[:90], y=y[:90])
    np.savez(tmp_path / "b.npz", x=x[90:], y=y[90:])
    result = train_from_config(load_config(config(tmp_path, 'train = "a.npz"\ntest = "b.npz"\nval_size = 0.1')))
    assert result.data.spec["layout"] == "files" and len(result.data.test) == 30
    from edgetrain.formats.modelfile import save_model

    g = load_model(save_model(result.graph, tmp_path / "m.etm"))
    assert len(model_samples(g, f"{tmp_path / 'b.npz'}:test").y) == 30
    assert np.array_equal(model_samples(g, f"{tmp_path / 'a.npz'}:val").rows, result.data.indices["val"])
    with pytest.raises(DataError, match="took no test samples from this file.*came from .*b.npz"):
        model_samples(g, f"{tmp_path / 'a.npz'}:test")
    # The commands that find the model's own splits by themselves find them in the right file.
    code, out, err = cli("export", "onnx", tmp_path / "m.etm", "-o", tmp_path / "onnx", "--json")
    assert code == 0, err
    assert json.loads(out)["onnxruntime_check"]["samples"] == 30
    assert f"data: {tmp_path / 'b.npz'}, split test, 30 samples" in err.splitlines()
    code, out, err = cli("export", "c", tmp_path / "m.etm", "-t", "host", "--dtype", "int8", "-o", tmp_path / "c",
                         "--json")
    assert code == 0, err
    assert f"data: {tmp_path / 'a.npz'}, split train, {len(result.data.train)} samples" in err.splitlines()
    assert json.loads(out)["calibration_data"] == {"source": str(tmp_path / "a.npz"), "split": "train",
                                                   "samples": len(result.data.train)}
    with pytest.raises(Exception, match="both source and train"):
        load_config(config(tmp_path, 'source = "a.npz"\ntrain = "a.npz"'))
    with pytest.raises(Exception, match="no train file"):
        load_config(config(tmp_path, 'test = "b.npz"'))


def test_config_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    """A config and its data move together: the path is read from the config's directory, not
    the working directory; a missing file is named by the path it was looked for at."""
    x, y = xy()
    d = tmp_path / "project"
    d.mkdir()
    np.savez(d / "d.npz", x=x, y=y)
    cfg = config(d, 'source = "d.npz"')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code, out, err = cli("train", cfg, "-o", tmp_path / "m.etm", "--json", cwd=elsewhere)
    assert code == 0, err
    assert json.loads(out)["data"]["source"] == str(d / "d.npz")
    config(d, 'source = "missing.npz"')
    code, _, err = cli("train", cfg, "-o", tmp_path / "m2.etm", cwd=elsewhere)
    assert code == 2 and f"data file {d / 'missing.npz'} does not exist" in err
    assert not (tmp_path / "m2.etm").exists()


def test_train_prints_and_reports_the_samples_it_used(tmp_path: Path) -> None:
    x, y = xy()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, out, err = cli("train", config(tmp_path, 'source = "d.npz"\ntest_size = 0.3\nval_size = 0.2'),
                         "-o", tmp_path / "m.etm", "--json")
    assert code == 0, err
    data = json.loads(out)["data"]
    assert data["split"] == "train" and data["splits"] == {"train": 44, "val": 19, "test": 27}
    assert data["samples"] == 44
    assert f"data: {tmp_path / 'd.npz'}, split train 44 / val 19 / test 27 samples" in err.splitlines()


def test_emulate_reports_the_samples_it_ran(tmp_path: Path, host_cc: str) -> None:
    """emulate --limit: the data line and --json say how many of the split's samples ran."""
    x, y = xy()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    code, _, err = cli("train", config(tmp_path, 'source = "d.npz"'), "-o", tmp_path / "m.etm")
    assert code == 0, err
    code, out, err = cli("emulate", tmp_path / "m.etm", "-t", "host", "--dtype", "f32", "--data",
                         f"{tmp_path / 'd.npz'}:test", "--limit", "5", "--json")
    assert code == 0, err
    assert json.loads(out)["data"] == {"source": str(tmp_path / "d.npz"), "split": "test", "samples": 5, "of": 27}
    assert f"data: {tmp_path / 'd.npz'}, split test, 5 of 27 samples" in err.splitlines()

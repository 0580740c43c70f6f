"""User mistakes: one clear line, a hint, exit code 2, no traceback (through the real CLI)."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et

from helpers import assert_user_error, run_cli

CONFIG = """
name = "t"
[data]
source = "{source}"
[model]
layers = [ {layers} ]
[train]
epochs = 1
"""
GOOD_LAYERS = '{ type = "dense", units = 8, activation = "relu" }, { type = "dense", units = 3 }'


def write_config(tmp_path, source, layers=GOOD_LAYERS):
    p = tmp_path / "c.toml"
    p.write_text(CONFIG.format(source=source, layers=layers))
    return p


def test_unknown_layer_type(tmp_path):
    cfg = write_config(tmp_path, "iris", '{ type = "dense", units = 8 }, { type = "conv9d" }')
    r = run_cli("train", cfg, "-o", tmp_path / "m.etm")
    assert_user_error(r, "conv9d")
    assert "hint: did you mean 'conv2d'? known types:" in r.stderr
    assert not (tmp_path / "m.etm").exists()


def test_nan_in_data_names_row_and_column(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 4))
    x[17, 2] = np.nan
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 3)
    r = run_cli("train", write_config(tmp_path, tmp_path / "d.npz"), "-o", tmp_path / "m.etm")
    assert_user_error(r, "row 17", "column 2")


def test_labels_out_of_range_in_eval(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 4))
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 3)
    r = run_cli("train", write_config(tmp_path, tmp_path / "d.npz"), "-o", tmp_path / "m.etm", "--quiet")
    assert r.returncode == 0, r.stderr
    np.savez(tmp_path / "bad.npz", x=x, y=np.arange(40) % 5)
    r = run_cli("eval", tmp_path / "m.etm", "--data", tmp_path / "bad.npz")
    assert_user_error(r, "labels go up to 4", "3 outputs")
    np.savez(tmp_path / "neg.npz", x=x, y=-(np.arange(40) % 3))
    r = run_cli("train", write_config(tmp_path, tmp_path / "neg.npz"), "-o", tmp_path / "m2.etm")
    assert_user_error(r, "label -1 at row 1")


def test_wrong_input_width(tmp_path):
    x = np.random.default_rng(0).normal(size=(40, 4))
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(40) % 3)
    assert run_cli("train", write_config(tmp_path, tmp_path / "d.npz"), "-o", tmp_path / "m.etm").returncode == 0
    np.savez(tmp_path / "wide.npz", x=np.zeros((5, 6)), y=np.zeros(5))
    r = run_cli("eval", tmp_path / "m.etm", "--data", tmp_path / "wide.npz")
    assert_user_error(r, "6 features", "trained on 4")


def test_missing_files_and_bad_toml(tmp_path):
    assert_user_error(run_cli("train", tmp_path / "nope.toml"), "does not exist")
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    assert_user_error(run_cli("train", bad), "invalid TOML")
    assert_user_error(run_cli("info", tmp_path / "nope.etm"), "does not exist")
    assert_user_error(run_cli("train", write_config(tmp_path, "mnist-please")), "unknown dataset 'mnist-please'")


def test_csv_errors_and_loading(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n1,2,0\n3,x,1\n")
    with pytest.raises(et.DataError, match="line 3, column 2"):
        et.data.read_file(p)
    p.write_text("a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(20)))
    d = et.load_data(str(p), test_size=0.25, val_size=0.0)
    assert d.n_features == 2 and d.n_classes == 2 and len(d.train) == 15 and len(d.test) == 5
    assert np.allclose(d.train.x.mean(axis=0), 0, atol=1e-6)


def test_graph_validation_errors():
    g = et.Sequential([et.Dense(4), et.Dense(2)], 3)
    g.nodes[1].inputs = ["nowhere"]
    with pytest.raises(et.InvalidModelError, match="reads 'nowhere'"):
        g.validate()
    g = et.Sequential([et.Dense(4), et.Dense(2)], 3)
    g.params["dense2.weight"].value = np.zeros((5, 2), np.float32)
    with pytest.raises(et.InvalidModelError, match="input width 4"):
        g.validate()
    g = et.Sequential([et.Dense(4)], 3)
    g.nodes[0].op = "conv3d"
    with pytest.raises(et.UnsupportedOpError, match="conv3d"):
        g.validate()
    with pytest.raises(et.DataError, match="expects"):
        et.predict(et.Sequential([et.Dense(4)], 3), np.zeros((2, 5)))


def test_targets_command_lists_boards():
    import json as _json

    r = run_cli("targets", "--json")
    assert r.returncode == 0, r.stderr
    rows = {t["name"]: t for t in _json.loads(r.stdout)["targets"]}
    assert {"host", "stm32f405", "stm32f205", "mps2-an386", "stm32f746"} <= set(rows)
    assert rows["stm32f405"]["ram_bytes"] == 128 * 1024
    assert rows["stm32f746"]["runs_here"] is False


@pytest.mark.parametrize("spoil, message", [
    (lambda x, y: x.__setitem__((2, 1), np.nan), "non-finite value nan at row 2, column 1"),
    (lambda x, y: y.__setitem__(3, 7), "labels go up to 7"),
    (lambda x, y: y.__setitem__(0, -1), "is negative"),
])
def test_fit_on_arrays_runs_the_same_data_checks_as_the_commands(spoil, message):
    g = et.Sequential([et.Dense(3)], 4, seed=0)
    x, y = np.zeros((12, 4), np.float32), np.arange(12) % 3
    spoil(x, y)
    with pytest.raises(et.DataError, match=message):
        et.fit(g, (x, y), epochs=1)


def test_a_nan_weight_from_the_python_api_is_an_export_error(tmp_path):
    from edgetrain.export.c import export_c

    g = et.Sequential([et.Dense(3)], 4, seed=0)
    g.params["dense1.weight"].value[1, 2] = np.nan
    with pytest.raises(et.ExportError, match="non-finite value"):
        export_c(g, "host", tmp_path / "c", dtype="f32")
    assert not (tmp_path / "c").exists()


def test_exit_statuses_tell_the_error_kinds_apart() -> None:
    """2 for wrong input, 3 a failed check, 4 a model over budget, 5 a missing or failing toolchain
    (documented in edgetrain/errors.py and the README)."""
    from edgetrain import errors

    assert errors.ConfigError("x").exit_code == errors.DataError("x").exit_code == 2
    assert errors.UnsupportedOpError("x").exit_code == errors.ModelFileError("x").exit_code == 2
    assert errors.CheckFailedError("x").exit_code == 3
    assert errors.BudgetExceededError("x").exit_code == 4
    assert errors.ToolchainError("x").exit_code == 5


def test_truncated_fine_tuning_result_is_a_toolchain_error_not_a_crash():
    import struct
    from types import SimpleNamespace

    from edgetrain.device.boot import RESULT_MAGIC, parse_boot_result
    from edgetrain.errors import ToolchainError

    program = SimpleNamespace(feature_ctype="float")
    # a header announcing 3 evaluation records of 10 logits and 2 steps, then nothing
    head = struct.pack("<4s9I", RESULT_MAGIC, 1, 0, 0, 0, 0, 3, 10, 0, 2)
    for blob in (b"", RESULT_MAGIC, head[:20], head, head + b"\0" * 50):
        with pytest.raises(ToolchainError):
            parse_boot_result(blob, program)  # type: ignore[arg-type]

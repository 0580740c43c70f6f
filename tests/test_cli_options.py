"""Command-line options are range-checked while they are parsed (one error line, a hint, exit 2),
before any file is read or memory allocated; --keep directories are written like any output."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.cli import main
from edgetrain.device.finetune import make_batches
from edgetrain.errors import DataError
from edgetrain.formats.modelfile import save_model

BAD = [
    (["finetune", "M", "--data", "D", "--steps", "100000000000"], "--steps': 100000000000 is above the limit"),
    (["finetune", "M", "--data", "D", "--steps", "0"], "--steps': 0 is below the minimum 1"),
    (["finetune", "M", "--data", "D", "--steps", "1e3"], "'1e3' is not a whole number"),
    (["finetune", "M", "--data", "D", "--batch", "10000000"], "--batch': 10000000 is above the limit"),
    (["finetune", "M", "--data", "D", "--lr", "nan"], "--lr': nan is not a finite number > 0"),
    (["finetune", "M", "--data", "D", "--lr", "-1"], "--lr': -1 is not a finite number > 0"),
    (["finetune", "M", "--data", "D", "--momentum", "1"], "--momentum': 1 is not a finite number in [0, 1)"),
    (["finetune", "M", "--data", "D", "--weight-decay", "inf"], "--weight-decay': inf is not a finite number >= 0"),
    (["finetune", "M", "--data", "D", "--seed", "-1"], "--seed': -1 is below the minimum 0"),
    (["export", "c", "M", "-t", "host", "-o", "O", "--percentile", "-5"], "--percentile': -5 is not a finite"),
    (["export", "c", "M", "-t", "host", "-o", "O", "--percentile", "101"], "--percentile': 101 is not a finite"),
    (["export", "onnx", "M", "-o", "O", "--beta1", "2"], "--beta1': 2 is not a finite number in [0, 1)"),
    (["export", "onnx", "M", "-o", "O", "--beta2", "nan"], "--beta2': nan"),
    (["export", "onnx", "M", "-o", "O", "--eps", "0"], "--eps': 0 is not a finite number > 0"),
    (["ort-train", "A", "--data", "D", "-o", "O", "--epochs", "1000000000000"], "--epochs'"),
    (["ort-train", "A", "--data", "D", "-o", "O", "--batch-size", "0"], "--batch': 0 is below"),
    (["emulate", "M", "--limit", "0"], "--limit': 0 is below the minimum 1"),
    (["finetune", "M", "--data", "D", "--no-such-option"], "No such option"),
]


@pytest.mark.parametrize("argv, fragment", BAD, ids=[" ".join(a[:1] + a[-2:]) for a, _ in BAD])
def test_a_bad_option_is_one_error_line_and_a_hint(argv, fragment, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and lines[1].startswith("hint: see edgetrain ")
    assert fragment in lines[0]
    assert list(tmp_path.iterdir()) == []  # parsed before anything was read or written


def test_a_limit_is_raised_by_its_environment_variable(monkeypatch) -> None:
    from edgetrain.cli.options import STEPS

    with pytest.raises(Exception, match="above the limit"):
        STEPS.convert("200000000", None, None)
    monkeypatch.setenv("EDGETRAIN_LIMIT_MAX_STEPS", "300000000")
    assert STEPS.convert("200000000", None, None) == 200_000_000


def test_batches_over_the_element_limit_are_refused_before_allocation() -> None:
    x, y = np.zeros((10, 64), np.float32), np.zeros(10, np.int64)
    with pytest.raises(DataError, match="over the limit"):
        make_batches(x, y, steps=100_000_000, batch=1_000)
    xs, ys = make_batches(x, y, steps=3, batch=2)
    assert xs.shape == (3, 2, 64) and ys.shape == (3, 2)


@pytest.mark.parametrize("command", ["emulate", "finetune"])
def test_keep_refuses_a_directory_of_user_files(command, tmp_path, capsys) -> None:
    model = tmp_path / "m.etm"
    save_model(et.Sequential([et.Dense(3)], 4, seed=0), model)
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((6, 4), np.float32), y=np.arange(6) % 3)
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("user data")
    argv = [command, str(model), "-t", "host", "--data", str(data), "--keep", str(keep)]
    if command == "emulate":
        argv += ["--dtype", "f32"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "holds files edgetrain did not write" in err and "--force" not in err
    assert sorted(p.name for p in keep.iterdir()) == ["notes.txt"]
    assert (keep / "notes.txt").read_text() == "user data"


def test_finetune_keep_publishes_the_run_and_replaces_its_own_earlier_one(host_cc, tmp_path) -> None:
    from edgetrain.device import finetune_on_device

    g = et.Sequential([et.Dense(6, "relu"), et.Dense(3)], 4, seed=0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 4)).astype(np.float32), np.arange(12) % 3
    keep = tmp_path / "kept"
    for _ in range(2):  # the second run replaces the first one's directory
        finetune_on_device(g, "host", x, y, steps=2, keep_dir=keep)
        assert (keep / "device" / "flash.bin").is_file() and (keep / "src").is_dir()
        assert (keep / ".edgetrain-output.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".kept.")]  # no staging leftovers

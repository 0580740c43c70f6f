"""examples/make_gestures.py: a reproducible multichannel sensor-window data set that the data
checks and `edgetrain eval --data` accept, learnable but not trivial."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from make_gestures import TEMPLATES, main, make_gestures  # noqa: E402

from edgetrain.data import read_file  # noqa: E402
from edgetrain.data_checks import check_samples  # noqa: E402


def test_windows_are_reproducible_balanced_and_channels_last() -> None:
    x, y, names = make_gestures(per_class=20, length=32, seed=3)
    assert x.shape == (20 * len(TEMPLATES), 32, 3) and x.dtype == np.float32
    assert names == list(TEMPLATES) and np.bincount(y).tolist() == [20] * len(TEMPLATES)
    again, y2, _ = make_gestures(per_class=20, length=32, seed=3)
    np.testing.assert_array_equal(x, again)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, make_gestures(per_class=20, length=32, seed=4)[0])
    flat, _ = check_samples(x, y, source="gestures", sample_shape=(32, 3))
    assert flat.shape == (len(y), 96)


def test_the_classes_are_learnable_but_a_template_match_is_not_enough() -> None:
    """Nearest class mean on raw windows: far above chance (1/8), well below perfect, because of
    the time warp, gains and noise every sample gets."""
    x, y, _ = make_gestures(per_class=150, seed=0)
    flat = x.reshape(len(x), -1)
    train, test = slice(0, 900), slice(900, None)
    means = np.stack([flat[train][y[train] == k].mean(0) for k in range(len(TEMPLATES))])
    pred = np.argmin(((flat[test][:, None] - means[None]) ** 2).sum(-1), axis=1)
    accuracy = float((pred == y[test]).mean())
    assert 0.5 < accuracy < 0.97, accuracy


def test_the_script_writes_an_npz_the_data_reader_reads(tmp_path: Path, capsys) -> None:
    out = tmp_path / "gestures.npz"
    main([str(out), "--per-class", "5", "--length", "16"])
    x, y = read_file(out)
    assert np.asarray(x).shape == (40, 16, 3) and len(y) == 40
    assert "8 classes" in capsys.readouterr().out


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        make_gestures(per_class=0)


def test_the_1d_cnn_example_trains_from_the_cli_and_beats_a_flat_mlp(tmp_path: Path) -> None:
    """examples/gestures_cnn.toml end to end through the CLI, on the data set the script writes;
    the same data through a 96-32-8 MLP (the window flattened) for comparison."""
    import json

    from helpers import run_cli

    main([str(tmp_path / "gestures.npz")])
    # Data paths in a config are relative to the config's directory: the example is copied next
    # to the data the script wrote.
    example = tmp_path / "gestures_cnn.toml"
    example.write_text((Path(__file__).resolve().parents[1] / "examples" / "gestures_cnn.toml").read_text())
    mlp = tmp_path / "mlp.toml"
    text = example.read_text()
    start, end = text.index("layers = ["), text.index("]\n\n[train]") + 1
    mlp.write_text(text[:start] + 'layers = [ { type = "flatten" }, { type = "dense", units = 32, activation = "relu" }, '
                   '{ type = "dense", units = 8 } ]' + text[end:])
    accuracy = {}
    for name, cfg in (("cnn", example), ("mlp", mlp)):
        r = run_cli("train", cfg, "-o", tmp_path / f"{name}.etm", "--json", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        accuracy[name] = json.loads(r.stdout)["test_accuracy"]
    assert accuracy["cnn"] > 0.97 and accuracy["cnn"] > accuracy["mlp"], accuracy

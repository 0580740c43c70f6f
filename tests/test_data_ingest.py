"""Bringing your own data: text class labels (CSV and .npz) kept as class names in the model,
``label_column``, delimiter sniffing, the fast CSV path agreeing with the exact one, and
windows over long recordings."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgetrain.config import load_config
from edgetrain.data import read_csv, read_file
from edgetrain.data_window import make_windows, window_count
from edgetrain.errors import ConfigError, DataError
from edgetrain.formats.modelfile import load_model
from edgetrain.train_run import train_from_config
from test_data_sources import cli

NAMES = ("walk", "run", "sit")
TOML = """
name = "own"
seed = 0
[data]
{data}
[model]
layers = [ {layers} ]
[train]
epochs = 20
batch_size = 16
[train.optimizer]
name = "adam"
lr = 0.01
"""
DENSE = '{ type = "dense", units = 16, activation = "relu" }, { type = "dense", units = 3 }'


def activity_csv(path: Path, n: int = 90, seed: int = 0, names=NAMES, delimiter: str = ",") -> Path:
    """A header, two features, the activity name in the middle column."""
    rng = np.random.default_rng(seed)
    lines = [delimiter.join(("ax", "activity", "ay"))]
    for i in range(n):
        name = names[i % len(names)]
        k = NAMES.index(name) if name in NAMES else 5  # the features follow the activity, not its order
        lines.append(delimiter.join((f"{rng.normal() + 3 * k:.4f}", name, f"{rng.normal() - k:.4f}")))
    path.write_text("\n".join(lines) + "\n")
    return path


def config(d: Path, data: str, layers: str = DENSE) -> Path:
    p = d / "own.toml"
    p.write_text(TOML.format(data=data, layers=layers))
    return p


def test_text_labels_in_a_csv_become_class_names_in_the_model(tmp_path: Path) -> None:
    activity_csv(tmp_path / "a.csv")
    code, out, err = cli("train", config(tmp_path, 'source = "a.csv"\nlabel_column = "activity"'),
                         "-o", tmp_path / "m.etm", "--json")
    assert code == 0, err
    assert json.loads(out)["classes"] == "run, sit, walk"
    g = load_model(tmp_path / "m.etm")
    assert g.meta["class_names"] == ["run", "sit", "walk"] and g.meta["n_classes"] == 3
    assert g.meta["preprocess"]["label_column"] == "activity"
    # eval maps a new file's names through the model's (this one lacks "run" and lists "sit" first).
    activity_csv(tmp_path / "new.csv", n=40, seed=1, names=("sit", "walk"))
    code, out, err = cli("eval", tmp_path / "m.etm", "--data", tmp_path / "new.csv", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert res["classes"] == ["run", "sit", "walk"] and res["per_class_accuracy"]["run"] is None
    assert res["per_class_accuracy"]["walk"] > 0.8 and res["samples"] == 40
    code, out, _ = cli("eval", tmp_path / "m.etm", "--data", tmp_path / "new.csv")
    assert "accuracy of walk" in out
    code, out, _ = cli("info", tmp_path / "m.etm")
    assert "classes: 0 run, 1 sit, 2 walk" in out
    activity_csv(tmp_path / "bad.csv", n=6, names=("walk", "jump"))
    code, _, err = cli("eval", tmp_path / "m.etm", "--data", tmp_path / "bad.csv")
    assert code == 2 and "label 'jump' at row 1 is not one of the model's classes (run, sit, walk)" in err


def test_a_model_file_with_bad_class_names_is_refused(tmp_path: Path) -> None:
    import edgetrain as et
    from edgetrain.errors import ModelFileError

    g = et.Sequential([et.Dense(2)], 3, seed=0)
    for bad in (["a", "a"], ["a", ""], "ab", [1, 2]):
        g.meta["class_names"] = bad
        et.save_model(g, tmp_path / "m.etm")
        with pytest.raises(ModelFileError, match="class_names must be a list of distinct"):
            load_model(tmp_path / "m.etm")


def test_text_labels_in_an_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    y = np.array([NAMES[i % 3] for i in range(90)])
    x = rng.normal(size=(90, 4)) + (np.arange(90) % 3)[:, None]
    np.savez(tmp_path / "t.npz", x=x, y=y)
    result = train_from_config(load_config(config(tmp_path, 'source = "t.npz"')))
    assert result.data.class_names == ["run", "sit", "walk"]
    assert result.graph.meta["class_names"] == ["run", "sit", "walk"]
    assert np.array_equal(read_file(tmp_path / "t.npz")[1], np.searchsorted(["run", "sit", "walk"], y))
    # A model trained on class ids refuses text labels: it has no names to map them through.
    np.savez(tmp_path / "ids.npz", x=x, y=np.arange(90) % 3)
    ids = train_from_config(load_config(config(tmp_path, 'source = "ids.npz"')))
    from edgetrain.data_sources import model_samples

    with pytest.raises(DataError, match="labels are text .* the model has no class names"):
        model_samples(ids.graph, str(tmp_path / "t.npz"))


def test_label_column_default_name_and_index(tmp_path: Path) -> None:
    p = tmp_path / "d.csv"
    p.write_text("".join(f"{i % 2},{i},{i * 2}\n" for i in range(6)))  # no header, label first
    assert read_csv(p)[1].tolist() == [0, 2, 4, 6, 8, 10]  # default: the last column
    assert read_csv(p, 0)[1].tolist() == [0, 1, 0, 1, 0, 1]
    assert read_csv(p, -3)[1].tolist() == [0, 1, 0, 1, 0, 1]
    p.write_text("a,label,b\n" + "".join(f"{i},{i % 2},{i * 2}\n" for i in range(6)))
    assert read_csv(p)[1].tolist() == [0, 1, 0, 1, 0, 1]  # a column named label wins
    assert read_csv(p)[0][:, 1].tolist() == [0, 2, 4, 6, 8, 10]
    with pytest.raises(ConfigError, match="label_column must be a column name or number"):
        load_config(config(tmp_path, 'source = "d.csv"\nlabel_column = true'))
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.arange(4) % 2)
    with pytest.raises(DataError, match="label_column applies to CSV files"):
        train_from_config(load_config(config(tmp_path, 'source = "d.npz"\nlabel_column = 0')))


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_the_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    comma = read_csv(activity_csv(tmp_path / "c.csv"), "activity")
    other = read_csv(activity_csv(tmp_path / "o.csv", delimiter=delimiter), "activity")
    assert np.array_equal(comma[0], other[0]) and np.array_equal(comma[1], other[1])
    assert comma[0].shape == (90, 2) and comma[1][:3].tolist() == ["walk", "run", "sit"]
    # An explicit delimiter overrides the sniffer (here: reading commas as one column fails).
    with pytest.raises(DataError):
        read_csv(tmp_path / "c.csv", "activity", delimiter=";")


def test_fast_and_exact_csv_paths_agree(tmp_path: Path) -> None:
    """The loadtxt path (no quotes, regular lines) and the csv-module path (quotes) read the same
    table; what only the exact path accepts (float()'s 1_000) still reads."""
    rng = np.random.default_rng(0)
    rows = [(f"{a:.6g}", f"{b:.6g}", str(k)) for a, b, k in zip(rng.normal(size=50), rng.normal(size=50),
                                                                 np.arange(50) % 4)]
    plain = tmp_path / "p.csv"
    plain.write_text("a,b,label\n" + "".join(",".join(r) + "\n" for r in rows))
    quoted = tmp_path / "q.csv"
    quoted.write_text('"a","b","label"\n' + "".join(",".join(f'"{c}"' for c in r) + "\n" for r in rows))
    fx, fy = read_csv(plain)
    qx, qy = read_csv(quoted)
    assert np.array_equal(fx, qx) and np.array_equal(fy, qy) and fy.dtype == np.float64
    odd = tmp_path / "u.csv"
    odd.write_text("1_000,2,0\n3,4,1\n")
    assert read_csv(odd)[0][:, 0].tolist() == [1000.0, 3.0]
    ragged = tmp_path / "r.csv"
    ragged.write_text("1,2,0\n3,4,5,1\n")
    with pytest.raises(DataError, match="line 2 has 4 columns, expected 3"):
        read_csv(ragged)
    text = tmp_path / "t.csv"
    text.write_text("1,2,walk\n3,x,run\n")
    with pytest.raises(DataError, match="line 2, column 2: 'x' is not a number"):
        read_csv(text)


# ---------------------------------------------------------------- windows

def test_windows_per_step_labels_take_the_majority() -> None:
    x = np.arange(20, dtype=float).reshape(10, 2)  # 10 time steps, 2 channels
    y = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 0])
    w, wy = make_windows(x, y, 4, 2, source="r")
    assert window_count(10, 4, 2) == 4 and w.shape == (4, 4, 2)
    assert np.array_equal(w[1], x[2:6])  # window 1 starts at step 2, channels last
    # steps 0-3: 0 0 1 1 (tie: the smaller id 0); 2-5: 1 1 1 2; 4-7: 1 2 2 2; 6-9: 2 2 2 0
    assert wy.tolist() == [0, 1, 2, 2]
    w, wy = make_windows(x, np.array([5, 6, 7, 8]), 4, 2, source="r")  # one label per window
    assert wy.tolist() == [5, 6, 7, 8]
    with pytest.raises(DataError, match="fewer than one window of 16"):
        make_windows(x, y, 16, 1, source="r")
    with pytest.raises(DataError, match="3 labels for 10 time steps and 4 windows"):
        make_windows(x, y[:3], 4, 2, source="r")


def test_config_windows_a_recording_for_training_and_eval(tmp_path: Path) -> None:
    """[data] window/stride over a (time, 3) recording with per-step text labels: the model takes
    (window, channels) samples, and eval cuts a new recording the same way."""
    def recording(path: Path, steps: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        k = (np.arange(steps) // 48) % 3  # 48-step segments of each activity
        x = rng.normal(size=(steps, 3)) * 0.3 + np.stack([np.sin(np.arange(steps) * (k + 1) * 0.5)] * 3, 1)
        np.savez(path, x=x, y=np.array(NAMES)[k])

    recording(tmp_path / "rec.npz", 2400, 0)
    layers = '{ type = "flatten" }, ' + DENSE
    cfg = config(tmp_path, 'source = "rec.npz"\nwindow = 16\nstride = 16\ntest_size = 0.2\nval_size = 0.1', layers)
    result = train_from_config(load_config(cfg))
    assert tuple(result.graph.input_shape) == (16, 3)
    assert sum(len(getattr(result.data, p)) for p in ("train", "val", "test")) == 150
    pre = result.graph.meta["preprocess"]
    assert pre["window"] == 16 and pre["stride"] == 16
    assert result.test_accuracy > 0.8
    from edgetrain.formats.modelfile import save_model

    model = save_model(result.graph, tmp_path / "m.etm")
    recording(tmp_path / "new.npz", 480, 1)
    code, out, err = cli("eval", model, "--data", tmp_path / "new.npz", "--json")
    assert code == 0, err
    assert json.loads(out)["samples"] == 30 and json.loads(out)["accuracy"] > 0.8
    code, out, err = cli("eval", model, "--data", f"{tmp_path / 'rec.npz'}:test", "--json")
    assert code == 0 and json.loads(out)["samples"] == len(result.data.test)
    # Overlapping windows split at random leak neighbours into the test split: the run says so.
    cfg = config(tmp_path, 'source = "rec.npz"\nwindow = 16\nstride = 8', layers)
    assert any("windows overlap" in n for n in train_from_config(load_config(cfg)).data.notes)
    with pytest.raises(ConfigError, match="stride needs a window"):
        load_config(config(tmp_path, 'source = "rec.npz"\nstride = 8'))


def test_a_regular_csv_takes_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A regular file never reaches the per-cell Python reader; an irregular one does."""
    import edgetrain.data_csv as data_csv

    calls: list[int] = []
    exact = data_csv._csv_numbers
    monkeypatch.setattr(data_csv, "_csv_numbers", lambda *a, **k: calls.append(1) or exact(*a, **k))
    x, y = read_csv(activity_csv(tmp_path / "a.csv", n=3000), "activity")
    assert x.shape == (3000, 2) and calls == []
    (tmp_path / "q.csv").write_text('a,label\n"1",0\n2,1\n')
    assert read_csv(tmp_path / "q.csv")[0].tolist() == [[1.0], [2.0]] and calls == [1]


def test_a_csv_recording_is_windowed_like_an_npz(tmp_path: Path) -> None:
    """One time step per CSV row, the activity per row: the same windows as the arrays give."""
    from edgetrain.data_sources import read_data_file

    activity_csv(tmp_path / "r.csv", n=40)
    fd = read_data_file(tmp_path / "r.csv", label_column="activity", window=8, stride=4)
    x, y = read_csv(tmp_path / "r.csv", "activity")
    ids = np.searchsorted(["run", "sit", "walk"], y)
    wx, wy = make_windows(x, ids, 8, 4, source="r")
    assert fd.parts["all"][0].shape == (9, 8, 2) and np.array_equal(fd.parts["all"][0], wx)
    assert np.array_equal(fd.parts["all"][1], wy) and fd.options == {"label_column": "activity", "window": 8,
                                                                      "stride": 4}


def test_config_delimiter_overrides_the_sniffer(tmp_path: Path) -> None:
    activity_csv(tmp_path / "s.csv", delimiter=";")
    ok = train_from_config(load_config(config(tmp_path, 'source = "s.csv"\nlabel_column = "activity"\ndelimiter = ";"')))
    assert ok.graph.meta["preprocess"]["delimiter"] == ";"
    with pytest.raises(DataError, match="no column named 'activity'"):  # read as one column of commas
        train_from_config(load_config(config(tmp_path, 'source = "s.csv"\nlabel_column = "activity"\ndelimiter = ","')))
    with pytest.raises(ConfigError, match="unknown delimiter"):
        load_config(config(tmp_path, 'source = "s.csv"\ndelimiter = ":"'))

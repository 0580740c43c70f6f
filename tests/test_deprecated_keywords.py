"""The public API names an output directory ``out_dir`` everywhere; the old keyword names still
work with a DeprecationWarning, giving both is a TypeError, and the argument stays required."""
from __future__ import annotations

import numpy as np
import pytest

from edgetrain.formats.modelfile import load_model
from edgetrain.interop.onnx import export_onnx, export_ort_artifacts, ort_train
from edgetrain.layers import Dense, Sequential


def tiny():
    return Sequential([Dense(3)], 4, seed=0)


def test_export_onnx_takes_the_old_directory_keyword(tmp_path) -> None:
    with pytest.warns(DeprecationWarning, match="'directory' is now 'out_dir'"):
        summary = export_onnx(tiny(), directory=tmp_path / "old")
    assert (tmp_path / "old" / "model.onnx").is_file() and summary["directory"] == str(tmp_path / "old")
    with pytest.raises(TypeError, match="both 'directory' and its new name 'out_dir'"):
        export_onnx(tiny(), tmp_path / "a", directory=tmp_path / "b")
    with pytest.raises(TypeError, match="missing 1 required argument: 'out_dir'"):
        export_onnx(tiny())
    with pytest.raises(TypeError, match="unexpected keyword argument 'dierctory'"):
        export_onnx(tiny(), dierctory=tmp_path / "c")


def test_ort_train_takes_the_old_output_keyword(tmp_path) -> None:
    g = tiny()
    with pytest.warns(DeprecationWarning, match="'directory' is now 'out_dir'"):
        export_ort_artifacts(g, directory=tmp_path / "art", optimizer="sgd")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 4)).astype(np.float32), rng.integers(0, 3, 8)
    with pytest.warns(DeprecationWarning, match="'output' is now 'out_dir'"):
        ort_train(tmp_path / "art", x, y, batch_size=4, output=tmp_path / "out")
    assert load_model(tmp_path / "out" / "model.etm").params.keys() == g.params.keys()

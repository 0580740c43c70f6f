"""`et.summary` (the `edgetrain info` tables as text) and `et.evaluate` (loss and accuracy)."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.engine.losses import CrossEntropy

from cnn_models import digits_cnn
from codegen_models import digits, mlp_64_32_10


def test_summary_lists_every_layer_and_the_totals(capsys: pytest.CaptureFixture[str]) -> None:
    g = digits_cnn()
    text = et.summary(g)
    assert capsys.readouterr().out == text
    for node in g.nodes:
        assert node.name in text
    total = sum(p.size for p in g.params.values())
    assert f"{total:,}" in text and "MACs" in text
    assert et.summary(g, print_it=False) == text and capsys.readouterr().out == ""


def test_evaluate_matches_accuracy_and_the_loss() -> None:
    g, d = mlp_64_32_10(), digits()
    res = et.evaluate(g, d)  # a Dataset: its test split
    assert res["samples"] == len(d.test.y) and res["accuracy"] == et.accuracy(g, d.test)
    loss, _ = CrossEntropy()(et.predict(g, d.test.x), d.test.y)
    assert res["loss"] == pytest.approx(loss, rel=1e-6)
    assert et.evaluate(g, (d.val.x, d.val.y))["samples"] == len(d.val.y)
    mse = et.evaluate(g, (d.test.x, np.eye(10)[d.test.y]), loss="mse")
    assert mse["accuracy"] is None and mse["loss"] > 0


def test_evaluate_refuses_bad_labels() -> None:
    g, d = mlp_64_32_10(), digits()
    with pytest.raises(et.DataError, match="class ids 0..9"):
        et.evaluate(g, (d.test.x[:4], np.array([0, 1, 2, 12])))
    with pytest.raises(et.DataError, match="as many labels"):
        et.evaluate(g, (d.test.x[:4], np.array([0, 1])))

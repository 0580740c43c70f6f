"""The on-device divergence guard: a step whose loss or weights blow up is rolled back, and the
weights about to be committed are checked too, so a wild learning rate leaves the stored model
as it was instead of committing garbage."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.device.finetune import finetune_on_device


@pytest.fixture(scope="module")
def trained():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 3, (4, 12))
    y = rng.integers(0, 4, 400)
    x = (centers[y] + rng.normal(0, 1, (400, 12))).astype(np.float32)
    g = et.Sequential([et.Dense(16, "relu"), et.Dense(4)], 12, seed=0)
    et.fit(g, (x, y), epochs=15, batch_size=32, optimizer="adam")
    acc = float(np.mean(np.argmax(et.predict(g, x), 1) == y))
    assert acc > 0.9, acc  # a model worth protecting
    return g, x, y


def test_a_wild_last_step_is_not_committed(host_cc, trained) -> None:
    g, x, y = trained
    rep = finetune_on_device(g, "host", x[:100], y[:100], steps=1, lr=1e30, trainable="all",
                             x_eval=x, y_eval=y)
    assert rep.final_rolled_back and rep.final_check in ("loss", "parameters")
    for name, value in g.params.items():  # boot 2 loaded the previous (initial) weights
        np.testing.assert_array_equal(rep.graph.params[name].value, value.value, err_msg=name)
    assert rep.accuracy_after == rep.accuracy_before


def test_a_sane_run_is_accepted_and_committed(host_cc, trained) -> None:
    g, x, y = trained
    rep = finetune_on_device(g, "host", x[:100], y[:100], steps=20, lr=0.01, trainable="all",
                             x_eval=x, y_eval=y)
    assert rep.final_check == "accepted" and not rep.final_rolled_back and rep.diverged_steps == 0
    assert any(not np.array_equal(rep.graph.params[n].value, p.value) for n, p in g.params.items())
    assert rep.accuracy_after >= rep.accuracy_before - 0.02


def test_diverging_steps_are_rolled_back_during_training(host_cc, trained) -> None:
    g, x, y = trained
    rep = finetune_on_device(g, "host", x[:100], y[:100], steps=20, lr=1000.0, trainable="all",
                             x_eval=x, y_eval=y)
    print(f"\nlr 1000: {rep.diverged_steps} rolled-back steps, accuracy "
          f"{rep.accuracy_before:.3f} -> {rep.accuracy_after:.3f}, final check {rep.final_check}")
    assert rep.diverged_steps > 0
    assert np.all(np.isfinite(rep.logits_after))
    assert rep.accuracy_after >= rep.accuracy_before - 0.1


def test_report_loss_row_averages_ten_steps_at_each_end() -> None:
    from edgetrain.device.finetune import FinetuneReport

    class Curve:
        loss_curve = [5.0] * 10 + [1.0] * 20 + [0.5] * 10

    assert FinetuneReport._smoothed_loss(Curve()) == "5.0000 -> 0.5000"
    Curve.loss_curve = [2.0, 1.0]
    assert FinetuneReport._smoothed_loss(Curve()) == "2.0000 -> 1.0000"  # short runs: one step each end
    Curve.loss_curve = [3.0] * 3 + [1.0] * 3
    assert FinetuneReport._smoothed_loss(Curve()) == "3.0000 -> 1.0000"  # half the curve at each end
    assert FinetuneReport._loss_window(Curve()) == 3  # the row's label names it


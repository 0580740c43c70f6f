"""In-training magnitude pruning: cubic schedule hit exactly, magnitude order, SET handover, any dense model."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.techniques import apply_techniques
from edgetrain.techniques.prune import apply_prune, cubic_sparsity


@pytest.fixture(scope="module")
def digits():
    return et.load_data("digits")


def mlp(seed=0):
    return et.Sequential([et.Dense(128, "relu"), et.Dense(10)], 64, seed=seed)


class Snapshot(et.Callback):
    def __init__(self, graph):
        self.names = [n for n, p in graph.params.items() if p.value.ndim == 2]
        self.states = []

    def on_epoch_end(self, trainer, epoch, logs):
        g = trainer.graph
        self.states.append({n: (g.params[n].mask.copy(), g.params[n].value.copy()) for n in self.names})


def test_cubic_schedule_formula():
    assert cubic_sparsity(0, 10, 0.9) == 0.0
    assert cubic_sparsity(10, 10, 0.9) == 0.9
    assert cubic_sparsity(5, 10, 0.9) == pytest.approx(0.9 * (1 - 0.5**3))
    assert cubic_sparsity(12, 10, 0.9) == 0.9  # clipped after the end
    s = [cubic_sparsity(t, 10, 0.8) for t in range(11)]
    assert all(a < b for a, b in zip(s, s[1:]))


def test_schedule_hits_target_exactly_by_magnitude_then_freezes(digits):
    m = mlp()
    cb = apply_prune(m, sparsity=0.9, start_epoch=1, end_epoch=5)
    before, after = Snapshot(m), Snapshot(m)
    et.fit(m, digits, epochs=8, optimizer=et.SGD(0.05, momentum=0.9), callbacks=[before, cb, after])
    for e, (sb, sa) in enumerate(zip(before.states, after.states)):
        completed = e + 1
        for n in before.names:
            mb, wb = sb[n]
            ma, wa = sa[n]
            size = ma.size
            if 1 < completed <= 5:
                s = 0.9 * (1 - (1 - (completed - 1) / 4) ** 3)
                assert ma.sum() == size - round(s * size)
                assert not np.any(ma & ~mb), "masks only shrink"
                # The kept weights are the largest magnitudes among the previously kept ones.
                dropped = mb & ~ma
                if dropped.any():
                    assert np.abs(wb[ma]).min() >= np.abs(wb[dropped]).max()
                assert np.all(wa[~ma] == 0)
            else:
                assert np.array_equal(ma, mb), f"no pruning at completed epoch {completed}"
    for n in before.names:
        p = m.params[n]
        assert p.nnz == p.size - round(0.9 * p.size)
        assert np.array_equal(p.mask, before.states[5][n][0])  # frozen after the schedule
    assert {r[0] for r in cb.records} == {2, 3, 4, 5}


def test_handover_to_set_keeps_sparsity_and_evolves(digits):
    m = mlp()
    cb = apply_prune(m, sparsity=0.9, end_epoch=4, then="set", zeta=0.3, seed=0)
    et.fit(m, digits, epochs=8, optimizer=et.SGD(0.05, momentum=0.9, weight_decay=1e-4), callbacks=[cb])
    evo = cb.evolution
    assert sorted({r.epoch for r in evo.records}) == [4, 5, 6]  # after the schedule, not after the last epoch
    for p in cb.params:
        assert p.nnz == p.size - round(0.9 * p.size)
    assert all(r.count > 0 for r in evo.records)
    acc = et.accuracy(m, digits.test)
    print(f"\n  64-128-10 pruned to 90% then SET: test accuracy {100 * acc:.2f}%")
    assert acc >= 0.93


def test_any_dense_model_including_loaded_residual(tmp_path, digits):
    b = et.GraphBuilder(64, seed=0)
    h = b.dense(b.input, 32, "relu")
    h = b.residual(h, [et.Dense(32, "relu"), et.Dense(32)])
    g = b.build(b.dense(h, 10))
    g = et.load_model(et.save_model(g, tmp_path / "res.etm"))  # as an imported model would arrive
    plan = apply_techniques(g, {"prune": {"sparsity": 0.75, "end_epoch": 3}})
    et.fit(g, digits, epochs=4, optimizer="adam", lr=0.003, callbacks=plan.callbacks)
    dense = [n for n in g.nodes if n.op == "dense"]
    assert len(dense) == 4
    for n in dense:
        p = g.params[n.params["weight"]]
        assert p.nnz == p.size - round(0.75 * p.size)
    assert et.accuracy(g, digits.test) > 0.85


def test_schedule_must_fit_training(digits):
    m = mlp()
    cb = apply_prune(m, sparsity=0.5, end_epoch=10)
    with pytest.raises(et.ConfigError, match="does not fit 3 training epochs"):
        et.fit(m, digits, epochs=3, callbacks=[cb])
    with pytest.raises(et.ConfigError, match="then"):
        apply_techniques(mlp(), {"prune": {"then": "magic"}})

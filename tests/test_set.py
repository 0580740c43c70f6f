"""SET: Erdős–Rényi masks, the exact prune-and-regrow rule, determinism, accuracy vs dense, CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import edgetrain as et
from edgetrain.model_report import sparse_rows
from edgetrain.formats.sparse import choose_format
from edgetrain.techniques import apply_techniques
from edgetrain.techniques.sparse_set import apply_set, er_density

from helpers import digits, small  # noqa: F401  (digits: fixture)
from sparse_runs import DENSE_WEIGHTS, SEEDS, run

ZETA = 0.3


def test_er_masks_exact_counts_and_dense_layers_stay_dense():
    m = et.Sequential([et.Dense(512, "relu"), et.Dense(512, "relu"), et.Dense(10)], 64, seed=0)
    evo = apply_set(m, eps=5, zeta=ZETA, seed=0)
    for name, (n_in, n_out) in {"dense1": (64, 512), "dense2": (512, 512), "dense3": (512, 10)}.items():
        p = m.params[f"{name}.weight"]
        p_er = 5 * (n_in + n_out) / (n_in * n_out)
        assert er_density(n_in, n_out, 5) == pytest.approx(p_er)
        assert p.nnz == round(p_er * n_in * n_out)
        assert np.all(p.value[~p.mask] == 0)
    assert [c.param.name for c in evo.cells] == ["dense1.weight", "dense2.weight", "dense3.weight"]

    # 8 x 10 at eps 5 has density 1.125: it stays dense, also when listed explicitly.
    m = et.Sequential([et.Dense(8, "relu"), et.Dense(10)], 64, seed=0)
    evo = apply_set(m, eps=5, layers=["dense1", "dense2"])
    assert m.params["dense2.weight"].mask is None
    assert [c.param.name for c in evo.cells] == ["dense1.weight"]


def expected_removed(mask: np.ndarray, w: np.ndarray, zeta: float) -> np.ndarray:
    """Independent statement of the rule: floor(zeta*n) smallest positives and negatives closest to
    zero, ties to the lower flat position."""
    mask, w = mask.ravel(), w.ravel()
    out = []
    for sign in (1, -1):
        idx = np.flatnonzero(mask & (sign * w > 0))
        order = np.lexsort((idx, sign * w[idx]))  # by |w| ascending, then position
        out.append(idx[order[: int(zeta * idx.size + 1e-9)]])
    return np.sort(np.concatenate(out))


class Snapshot(et.Callback):
    """Copies weights, masks and momentum at each epoch end (placed before and after SET)."""

    def __init__(self, names):
        self.names, self.states = names, []

    def on_epoch_end(self, trainer, epoch, logs):
        g, opt = trainer.graph, trainer.optimizer
        self.states.append({n: (g.params[n].mask.copy(), g.params[n].value.copy(),
                                opt.state[n]["velocity"].copy()) for n in self.names})


def test_evolution_follows_the_rule_exactly(digits):
    m = small()
    evo = apply_set(m, eps=3, zeta=ZETA, seed=0)
    names = [c.param.name for c in evo.cells]
    assert len(names) == 3
    before, after = Snapshot(names), Snapshot(names)
    epochs = 6
    et.fit(m, digits, epochs=epochs, optimizer=et.SGD(0.05, momentum=0.9, weight_decay=1e-4),
           callbacks=[before, evo, after])

    assert [(r.epoch, r.param) for r in evo.records] == [(e, n) for e in range(epochs - 1) for n in names]
    records = iter(evo.records)
    for epoch, (sb, sa) in enumerate(zip(before.states, after.states)):
        for n in names:
            mb, wb, vb = sb[n]
            ma, wa, va = sa[n]
            if epoch == epochs - 1:  # no evolution after the last epoch
                assert np.array_equal(ma, mb) and np.array_equal(wa, wb) and np.array_equal(va, vb)
                continue
            rec = next(records)
            removed = np.flatnonzero(mb & ~ma)
            regrown = np.flatnonzero(~mb & ma)
            assert ma.sum() == mb.sum(), "non-zero count must be invariant"
            want = expected_removed(mb, wb, ZETA)
            assert want.size > 0
            assert np.array_equal(removed, want)
            assert np.array_equal(rec.removed, want)
            assert np.array_equal(np.sort(rec.regrown), regrown)
            assert regrown.size == removed.size  # all regrown positions were empty before
            kept = (mb & ma).ravel()
            assert np.array_equal(wa.ravel()[kept], wb.ravel()[kept])
            assert np.array_equal(va.ravel()[kept], vb.ravel()[kept]), "kept weights keep their momentum"
            assert np.all(va.ravel()[regrown] == 0) and np.all(va.ravel()[removed] == 0)
            assert np.all(wa.ravel()[regrown] != 0) and np.all(wa.ravel()[removed] == 0)
            assert np.all(wa[~ma] == 0)


def test_masks_and_evolution_are_deterministic_from_the_seed(digits):
    def train(seed):
        m = small()
        evo = apply_set(m, eps=3, seed=seed)
        et.fit(m, digits, epochs=3, seed=0, optimizer=et.SGD(0.05, momentum=0.9), callbacks=[evo])
        return m, evo

    (a, ea), (b, eb), (c, _) = train(1), train(1), train(2)
    for k in a.params:
        assert a.params[k].value.tobytes() == b.params[k].value.tobytes()
    assert all(np.array_equal(x.regrown, y.regrown) for x, y in zip(ea.records, eb.records))
    assert not np.array_equal(a.params["dense1.weight"].mask, c.params["dense1.weight"].mask)


def test_early_stopping_restores_the_best_epochs_masks(digits):
    m = small()
    evo = apply_set(m, eps=3, seed=0)
    nnz = [c.param.nnz for c in evo.cells]
    h = et.fit(m, digits, epochs=200, early_stopping=2, optimizer="adam", lr=0.02, callbacks=[evo])
    assert h.stopped_early and len(evo.records) > 0
    # Restored values of the best epoch only make sense under that epoch's masks.
    assert et.accuracy(m, digits.val) == max(h.metric("val_acc"))
    assert [c.param.nnz for c in evo.cells] == nnz
    for c in evo.cells:
        assert np.all(c.param.value[~c.param.mask] == 0)


def test_config_errors():
    with pytest.raises(et.ConfigError, match="unknown option"):
        apply_techniques(small(), {"set": {"epsilon": 5}})
    with pytest.raises(et.ConfigError, match="no trainable dense layer named nope"):
        apply_techniques(small(), {"set": {"layers": ["nope"]}})
    with pytest.raises(et.ConfigError, match="zeta"):
        apply_techniques(small(), {"set": {"zeta": 1.5}})


@pytest.mark.slow
def test_digits_set_within_one_point_of_dense_with_under_5_percent_weights():
    dense = [run("dense", s) for s in SEEDS]
    sparse = [run("set", s) for s in SEEDS]
    acc_d = np.mean([r.accuracy for r in dense])
    acc_s = np.mean([r.accuracy for r in sparse])
    frac = np.mean([r.weights for r in sparse]) / DENSE_WEIGHTS
    print(f"\n  dense {100 * acc_d:.2f}%  SET {100 * acc_s:.2f}%  weights {100 * frac:.2f}% of {DENSE_WEIGHTS}  "
          f"time dense {sum(r.seconds for r in dense):.1f}s SET {sum(r.seconds for r in sparse):.1f}s")
    assert all(r.weights == sparse[0].weights for r in sparse)
    assert frac < 0.05
    assert acc_s >= acc_d - 0.010


@pytest.mark.slow
def test_train_cli_with_set_config_and_info_sparse_table(tmp_path):
    out = tmp_path / "set.etm"
    cmd = [sys.executable, "-m", "edgetrain"]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # see sparse_runs.py
    r = subprocess.run([*cmd, "train", "examples/digits_set.toml", "-o", str(out), "--json"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    print(f"\n  CLI SET: test accuracy {100 * summary['test_accuracy']:.2f}%, kept {summary['set weights kept']}")
    assert summary["test_accuracy"] >= 0.95
    assert summary["set weights kept"].startswith("3.5")

    r = subprocess.run([*cmd, "info", str(out), "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["sparse"]
    assert [x["layer"] for x in rows] == ["dense1", "dense2", "dense3"]
    g = et.load_model(out)
    for row in rows:
        p = g.params[f"{row['layer']}.weight"]
        chosen = choose_format(p.value.T, p.mask.T, np.float32)
        assert (row["format"], row["bytes"]) == (chosen.format, chosen.nbytes.total)
        assert row["density"] == pytest.approx(p.nnz / p.size)
        assert set(row["alternatives"]) == {"dense", "coo", "csr", "csc", "delta8", "delta4", "bitmap", "grouped"}
        assert row["bytes"] == min(row["alternatives"].values())
    assert rows[1]["alternatives"]["delta8"] <= 0.03 * rows[1]["alternatives"]["dense"]
    assert sparse_rows(g) == rows

    r = subprocess.run([*cmd, "info", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "sparse storage" in r.stdout and "delta8" in r.stdout

"""Motif-based SET: shared block weights, summed block gradients, block evolution, cost and accuracy."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.techniques.motif import apply_motif, motif_costs

from helpers import digits, small  # noqa: F401  (digits: fixture)
from sparse_runs import SEEDS, run

M = 2


def assert_blocks_constant(p: et.Param) -> None:
    """Every block of the expanded matrix is all-zero (inactive) or one constant (active)."""
    bi, bo = p.meta["block_shared"]
    w = p.effective()
    blocks = w.reshape(w.shape[0] // bi, bi, w.shape[1] // bo, bo).transpose(0, 2, 1, 3).reshape(
        w.shape[0] // bi, w.shape[1] // bo, bi * bo)
    assert np.all(blocks == blocks[:, :, :1]), f"{p.name}: a block is not constant"
    active = p.mask[::bi, ::bo]
    assert np.array_equal(p.mask, np.kron(active, np.ones((bi, bo), bool)))
    assert np.all(blocks[~active] == 0)
    assert np.array_equal(p.value, w)  # backends reading `value` see the same expanded matrix


class Snapshot(et.Callback):
    def __init__(self, names):
        self.names, self.states = names, []

    def on_epoch_end(self, trainer, epoch, logs):
        g = trainer.graph
        self.states.append({n: (g.params[n].mask.copy(), g.params[n].codebook.copy(), g.params[n].indices.copy(),
                                trainer.optimizer.state[n]["velocity"].copy()) for n in self.names})


def test_structure_gradients_and_block_evolution(digits):
    m = small()
    evo = apply_motif(m, m=M, eps=3, zeta=0.3, seed=0)
    names = [c.param.name for c in evo.cells]
    assert names == ["dense1.weight", "dense2.weight", "dense3.weight"]
    assert [m.params[n].meta["block_shared"] for n in names] == [[2, 2], [2, 2], [2, 1]]  # classes stay distinct
    sizes = {n: m.params[n].codebook.size for n in names}
    for n in names:
        p = m.params[n]
        assert sizes[n] == p.mask[:: p.meta["block_shared"][0], :: p.meta["block_shared"][1]].sum()
        assert_blocks_constant(p)

    # Block gradient = sum of the gradients of its entries (masked entries contribute nothing).
    p = m.params["dense2.weight"]
    g = np.random.default_rng(0).standard_normal(p.shape).astype(np.float32)
    gs = p.grad_to_storage(g)
    slots = p.indices[::2, ::2]
    block_sums = g.reshape(64, 2, 32, 2).sum(axis=(1, 3))  # dense2 is 128 x 64
    active = p.mask[::2, ::2]
    want = np.zeros(p.codebook.size)
    want[slots[active]] = block_sums[active]
    np.testing.assert_allclose(gs, want, rtol=1e-5, atol=1e-5)

    before, after = Snapshot(names), Snapshot(names)
    epochs = 5
    et.fit(m, digits, epochs=epochs, optimizer=et.SGD(0.05, momentum=0.9, weight_decay=1e-4),
           callbacks=[before, evo, after])
    assert len(evo.records) == (epochs - 1) * 3
    for e, (sb, sa) in enumerate(zip(before.states, after.states)):
        for n in names:
            p = m.params[n]
            bi, bo = p.meta["block_shared"]
            mb, cb_b, ib, vb = sb[n]
            ma, cb_a, ia, va = sa[n]
            blk_b, blk_a = mb[::bi, ::bo], ma[::bi, ::bo]
            assert cb_a.size == sizes[n] and blk_a.sum() == blk_b.sum()
            if e == epochs - 1:
                assert np.array_equal(ma, mb) and np.array_equal(cb_a, cb_b)
                continue
            regrown = ~blk_b & blk_a
            removed = blk_b & ~blk_a
            assert regrown.sum() == removed.sum() > 0
            freed = np.zeros(sizes[n], bool)
            freed[ib[::bi, ::bo][removed]] = True
            # New blocks reuse exactly the removed blocks' slots; their momentum starts at zero.
            assert np.array_equal(np.sort(ia[::bi, ::bo][regrown]), np.flatnonzero(freed))
            assert np.all(va[freed] == 0)
            assert np.array_equal(va[~freed], vb[~freed]) and np.array_equal(cb_a[~freed], cb_b[~freed])
            # The removed blocks are the zeta fraction of smallest positive / closest-to-zero negative values.
            vals = cb_b[ib[::bi, ::bo]][blk_b]
            order = np.flatnonzero(blk_b.ravel())
            rm = set(order[np.flatnonzero(removed.ravel()[order])])
            pos, neg = order[vals > 0], order[vals < 0]
            k_pos, k_neg = int(0.3 * pos.size + 1e-9), int(0.3 * neg.size + 1e-9)
            want = set(pos[np.lexsort((pos, vals[vals > 0]))[:k_pos]]) | set(
                neg[np.lexsort((neg, -vals[vals < 0]))[:k_neg]])
            assert rm == want
    for n in names:
        assert_blocks_constant(m.params[n])


def test_save_load_keeps_sharing(tmp_path, digits):
    m = small()
    evo = apply_motif(m, m=M, eps=3, seed=0)
    et.fit(m, digits, epochs=2, optimizer=et.SGD(0.05, momentum=0.9), callbacks=[evo])
    m2 = et.load_model(et.save_model(m, tmp_path / "motif.etm"))
    assert np.array_equal(et.predict(m, digits.test.x), et.predict(m2, digits.test.x))
    assert motif_costs(m2) == motif_costs(m)
    for c in evo.cells:
        assert_blocks_constant(m2.params[c.param.name])


@pytest.mark.slow
def test_digits_motif_halves_unique_weights_and_multiplies_within_3_points():
    set_runs = [run("set", s) for s in SEEDS]
    motif_runs = [run("motif", s) for s in SEEDS]
    acc_set = np.mean([r.accuracy for r in set_runs])
    acc_motif = np.mean([r.accuracy for r in motif_runs])
    unique = np.mean([r.unique for r in motif_runs]) / np.mean([r.unique for r in set_runs])
    mults = np.mean([r.multiplies for r in motif_runs]) / np.mean([r.multiplies for r in set_runs])
    print(f"\n  SET m=1 {100 * acc_set:.2f}% ({set_runs[0].unique} unique, {set_runs[0].multiplies} multiplies)  "
          f"motif m=2 {100 * acc_motif:.2f}% ({motif_runs[0].unique} unique, {motif_runs[0].multiplies} "
          f"multiplies)  ratios {unique:.3f} / {mults:.3f}  motif time {sum(r.seconds for r in motif_runs):.1f}s")
    assert unique <= 0.55 and mults <= 0.55
    assert acc_motif >= acc_set - 0.03


def test_lr_scale_equals_a_smaller_learning_rate_for_shared_weights(digits):
    # One epoch (no evolution): lr 0.1 with lr_scale 0.5 must move the shared weights exactly like
    # lr 0.05, momentum and weight decay included (the other parameters differ, so freeze them).
    def train(lr, scale):
        m = small()
        evo = apply_motif(m, m=M, eps=3, seed=0, lr_scale=scale)
        for p in m.params.values():
            p.trainable = p.codebook is not None
        et.fit(m, digits, epochs=1, optimizer=et.SGD(lr, momentum=0.9, weight_decay=1e-4), callbacks=[evo])
        return [c.param.codebook for c in evo.cells]

    for a, b in zip(train(0.1, 0.5), train(0.05, 1.0)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_train_cli_with_motif_config_and_info(tmp_path):
    import json
    import os
    import subprocess
    import sys

    out = tmp_path / "motif.etm"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "edgetrain"]
    r = subprocess.run([*cmd, "train", "examples/digits_motif.toml", "-o", str(out), "--json"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    print(f"\n  CLI motif: test accuracy {100 * summary['test_accuracy']:.2f}%, "
          f"{summary['motif unique weights']} unique weights")
    assert summary["test_accuracy"] >= 0.93 and summary["motif unique weights"] == 5330
    g = et.load_model(out)
    for n in ("dense1", "dense2", "dense3"):
        assert_blocks_constant(g.params[f"{n}.weight"])
    r = subprocess.run([*cmd, "info", str(out), "--json"], capture_output=True, text=True)
    rows = json.loads(r.stdout)["sparse"]
    assert [(x["block_shared"], x["unique_weights"]) for x in rows] == [("2x2", 1440), ("2x2", 2560), ("2x1", 1330)]
    assert all(x["block_bytes"] < x["bytes"] for x in rows)


def test_onnx_backends_see_an_ordinary_graph(digits):
    """The sharing is codebook + indices + mask, which the ONNX exporters already honour: the
    inference model matches `predict` and one train step updates the shared weights like numpy."""
    ort = pytest.importorskip("onnxruntime")
    from edgetrain.interop.onnx import build_inference_model, build_train_step

    m = small()
    apply_motif(m, m=M, eps=3, seed=0)
    x, y = digits.train.x[:32], digits.train.y[:32]
    inf = ort.InferenceSession(build_inference_model(m).SerializeToString())
    np.testing.assert_allclose(inf.run(None, {inf.get_inputs()[0].name: x})[0], et.predict(m, x), atol=1e-5)

    step = build_train_step(m, "sgd", lr=0.05, momentum=0.9)
    sess = ort.InferenceSession(step.model.SerializeToString())
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, step.feeds(x, y, 0.05, step.initial_state))))
    new = step.next_state(outs)
    et.Trainer(m, et.SGD(0.05, momentum=0.9), progress=False).train_step(x, y)
    for p in m.params.values():
        if p.codebook is not None:
            assert new[p.name].shape == p.codebook.shape  # the device trains the shared weights only
            np.testing.assert_allclose(new[p.name], p.codebook, atol=1e-6)


def test_model_files_saved_with_the_old_motif_key_still_load(tmp_path):
    """Files written before the block-sharing hint had its neutral name carry meta["motif"]; loading
    renames it, and the C export picks the block-sharing kernel as for a new file."""
    import json
    import zipfile

    from edgetrain.export.c import export_c

    m = small()
    apply_motif(m, m=M, eps=3, seed=0)
    new = et.save_model(m, tmp_path / "new.etm")
    old = tmp_path / "old.etm"
    with zipfile.ZipFile(new) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "edgetrain.json":
                doc = json.loads(data)
                for p in doc["params"]:
                    if "block_shared" in p["meta"]:
                        p["meta"] = {("motif" if k == "block_shared" else k): v for k, v in p["meta"].items()}
                assert any("motif" in p["meta"] for p in doc["params"])
                data = json.dumps(doc).encode()
            dst.writestr(item, data)
    g = et.load_model(old)
    for name, p in m.params.items():
        assert g.params[name].meta == p.meta
        assert "motif" not in g.params[name].meta
    res = export_c(g, "stm32f405", tmp_path / "c", "f32")
    assert res.program.storage["dense1"].format == "motif"

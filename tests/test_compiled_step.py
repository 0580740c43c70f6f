"""The compiled training step (the Trainer's default) equals the reference executor walk bit for bit.

Every test trains two copies of a model the same way, one with `Trainer(compiled=False)` (fresh
arrays through `executor.forward` / `executor.backward`), and requires identical losses and
identical parameters, masks and codebooks: the compiled step reuses arrays but makes the same
numpy calls in the same order.
"""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.engine.compiled import MAX_BATCH_SIZES, CompiledStep
from edgetrain.engine.losses import Distillation
from edgetrain.ops import OPS, Op
from edgetrain.techniques.motif import apply_motif
from edgetrain.techniques.prune import apply_prune
from edgetrain.techniques.sparse_set import apply_set

N_IN, N_OUT = 12, 5

OPTIMIZERS = {
    "sgd": lambda: et.SGD(0.05, momentum=0.9, weight_decay=1e-3),
    "sgd-plain": lambda: et.SGD(0.05),
    "adam": lambda: et.Adam(0.01, weight_decay=1e-4),
}


def mlp(seed: int) -> et.Graph:
    """Frozen first layer, a masked hidden weight (relu6), a clustered (codebook) head.

    The stored values disagree with `effective()` (nonzero under the mask, stale under the
    codebook), as they may between a technique's update and the next step: a step that used the
    value instead of the effective tensor would differ from the first loss on.
    """
    rng = np.random.default_rng(seed)
    g = et.Sequential([et.Dense(16, "relu", trainable=False), et.Dense(16, "relu6"), et.Dense(N_OUT)], N_IN,
                      seed=seed)
    w = g.params["dense2.weight"]
    w.mask = rng.random(w.shape) < 0.6
    w.value = w.value * 4.0  # large enough that relu6 clips
    c = g.params["dense3.weight"]
    c.indices = rng.integers(0, 6, c.shape)
    c.codebook = np.linspace(-0.6, 0.6, 6).astype(np.float32)
    c.value = np.zeros(c.shape, np.float32)
    return g


def residual(seed: int) -> et.Graph:
    """A frozen stem, a residual (add) block, identity and flatten on the way to the head."""
    b = et.GraphBuilder((3, 4), seed=seed)
    h = b.node("flatten", [b.input])
    h = b.dense(h, 8, "relu", trainable=False, name="stem")
    h = b.residual(h, [et.Dense(6, "relu"), et.Dense(8)])
    h = b.node("identity", [h])
    return b.build(b.dense(h, N_OUT, name="head"))


MODELS = {"mlp": (mlp, (N_IN,)), "residual": (residual, (3, 4))}


def data(shape: tuple[int, ...], n: int = 70, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype(np.float32), rng.integers(0, N_OUT, n)


class Losses(et.Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_step_end(self, trainer, step, loss):
        self.losses.append(loss)


def state(g: et.Graph) -> dict[str, list[np.ndarray | None]]:
    return {k: [p.value, p.mask, p.codebook, p.indices] for k, p in g.params.items()}


def assert_same(a: et.Graph, b: et.Graph) -> None:
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    for k in sa:
        for u, v in zip(sa[k], sb[k]):
            assert (u is None) == (v is None), k
            if u is not None:
                assert u.dtype == v.dtype and np.array_equal(u, v), k


def fit_both(make, shape, optimizer, loss="cross_entropy", epochs=3, techniques=None, **fit_kw):
    """Train a compiled and a reference copy alike (70 samples, batch 32: the last batch has 6)."""
    x, y = data(shape)
    runs = []
    for compiled in (True, False):
        g = make()
        callbacks = techniques(g) if techniques else []
        rec = Losses()
        t = et.Trainer(g, OPTIMIZERS[optimizer](), loss, batch_size=32, seed=3, progress=False,
                       callbacks=[*callbacks, rec], compiled=compiled, **fit_kw)
        assert (t.compiled is not None) == compiled
        t.fit(et.Split(x, y), epochs=epochs)
        runs.append((g, rec.losses))
    (ga, la), (gb, lb) = runs
    assert len(la) == 3 * epochs
    assert la == lb
    assert_same(ga, gb)
    return ga


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_same_losses_and_weights_as_reference(model, optimizer):
    make, shape = MODELS[model]
    g = fit_both(lambda: make(0), shape, optimizer)
    if model == "mlp":
        # The attachments were exercised: the frozen layer kept its values, masked weights stayed 0.
        w = g.params["dense2.weight"]
        assert np.all(w.value[~w.mask] == 0)
        assert np.array_equal(g.params["dense1.weight"].value, mlp(0).params["dense1.weight"].value)
        assert not np.array_equal(g.params["dense3.weight"].codebook, mlp(0).params["dense3.weight"].codebook)


@pytest.mark.parametrize("loss", ["mse", "distillation"])
def test_losses_without_out_argument(loss):
    """MSE and distillation allocate their gradient; the compiled step passes them no `out`."""
    if loss == "distillation":
        teacher = lambda x: np.tanh(x[:, :N_OUT] * 2.0)  # noqa: E731
        make_loss = lambda: Distillation(teacher, temperature=2.0, alpha=0.5)  # noqa: E731
        x, y = data((N_IN,))
        runs = []
        for compiled in (True, False):
            g = mlp(1)
            t = et.Trainer(g, OPTIMIZERS["adam"](), make_loss(), progress=False, compiled=compiled)
            runs.append(([t.train_step(x[i:i + 32], y[i:i + 32]) for i in range(0, 70, 32)], g))
        assert runs[0][0] == runs[1][0]
        assert_same(runs[0][1], runs[1][1])
    else:
        fit_both(lambda: mlp(1), (N_IN,), "sgd", loss=loss)


@pytest.mark.parametrize("technique", ["set", "prune", "motif"])
def test_techniques_that_swap_masks_and_codebooks_between_steps(technique):
    """SET and pruning replace masks and values at epoch ends, motif layers carry codebooks: the
    compiled step reads parameters afresh every step."""
    make = lambda: et.Sequential([et.Dense(24, "relu"), et.Dense(16, "relu"), et.Dense(N_OUT)], N_IN,  # noqa: E731
                                 seed=4)
    apply = {
        "set": lambda g: [apply_set(g, eps=3, zeta=0.3, seed=1)],
        "prune": lambda g: [apply_prune(g, sparsity=0.7, start_epoch=0, end_epoch=3)],
        "motif": lambda g: [apply_motif(g, m=2, eps=3, seed=1)],
    }[technique]
    fit_both(make, (N_IN,), "sgd", epochs=4, techniques=apply)


def test_batch_sizes_reuse_and_evict_arrays():
    """The full and the last batch keep their arrays; a further size evicts the oldest."""
    x, y = data((N_IN,))
    a, b = mlp(2), mlp(2)
    ta = et.Trainer(a, OPTIMIZERS["sgd"](), progress=False)
    tb = et.Trainer(b, OPTIMIZERS["sgd"](), progress=False, compiled=False)
    for n in (32, 6, 32, 6, 17, 32, 1):
        assert ta.train_step(x[:n], y[:n]) == tb.train_step(x[:n], y[:n])
        assert len(ta.compiled._arrays) <= MAX_BATCH_SIZES
    assert sorted(ta.compiled._arrays) == [1, 32]
    assert_same(a, b)


def test_float64_parameters_step_in_float32_like_the_reference():
    x, y = data((N_IN,))
    graphs = []
    for compiled in (True, False):
        g = mlp(3)
        for p in g.params.values():
            if p.codebook is None:
                p.value = p.value.astype(np.float64)
        t = et.Trainer(g, OPTIMIZERS["adam"](), progress=False, compiled=compiled)
        for i in range(0, 70, 32):
            t.train_step(x[i:i + 32], y[i:i + 32])
        graphs.append(g)
    assert_same(*graphs)


class _Scale(Op):
    """An op from outside the package: its rules take no `out` (`uses_out` stays False)."""

    kind = "test_scale"

    def infer_shape(self, node, in_shapes, params):
        return in_shapes[0]

    def forward(self, node, xs, ws):
        return xs[0] * 0.5

    def backward(self, node, dy, saved, ws, need_dx, need_dparams):
        return [dy * 0.5], {}


def test_op_without_out_argument(monkeypatch):
    monkeypatch.setitem(OPS, _Scale.kind, _Scale())
    b = et.GraphBuilder(N_IN, seed=5)
    h = b.dense(b.input, 10, "relu")
    model = b.build(b.dense(b.node(_Scale.kind, [h]), N_OUT))
    fit_both(model.copy, (N_IN,), "adam")


def test_gradients_match_reference_and_arrays_are_reused():
    """The step's gradients are the executor's; the next step writes into the same arrays."""
    from edgetrain.engine.autodiff import derive_backward
    from edgetrain.engine.executor import backward, forward
    from edgetrain.engine.losses import CrossEntropy

    g = residual(6)
    x, y = data((3, 4), n=32)
    sched = derive_backward(g)
    step = CompiledStep(g, sched, CrossEntropy())
    loss, grads = step(x, y)
    outs, tape = forward(g, x, sched)
    ref_loss, dy = CrossEntropy()(outs[g.output_name], y)
    ref = backward(g, sched, tape, {g.output_name: dy})
    assert loss == ref_loss and grads.keys() == ref.keys()
    assert all(np.array_equal(grads[k], ref[k]) for k in ref)
    again = step(x, y)[1]
    assert all(again[k] is grads[k] for k in grads)

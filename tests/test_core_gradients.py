"""Analytic gradients from the derived backward schedule equal central finite differences (float64)."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.engine.autodiff import derive_backward
from edgetrain.engine.executor import backward, forward
from edgetrain.engine.losses import MSE, CrossEntropy, Distillation


def to_f64(graph: et.Graph) -> et.Graph:
    for p in graph.params.values():
        p.value = p.value.astype(np.float64)
    return graph


def residual_graph(seed: int, frozen: bool = True) -> et.Graph:
    b = et.GraphBuilder((6,), seed=seed)
    h = b.dense(b.input, 5, "relu", trainable=not frozen, name="stem")
    h = b.residual(h, [et.Dense(4, "relu6"), et.Dense(5)])
    h = b.node("identity", [h])
    out = b.dense(h, 3, name="head")
    g = b.build(out)
    # Scale up so relu6 sees both its kinks (values above 6 and below 0).
    for p in g.params.values():
        p.value *= 2.0
    return to_f64(g)


def softmax_graph(seed: int) -> et.Graph:
    g = et.Sequential([et.Dense(4, "relu"), et.Dense(3), et.Softmax()], (2, 3), seed=seed)
    return to_f64(g)


def loss_of(graph, loss, x, y):
    outs, _ = forward(graph, x, dtype=np.float64)
    return loss(outs[graph.output_name], y, x)[0]


def numeric_grad(graph, loss, x, y, pname, eps=1e-6):
    p = graph.params[pname]
    g = np.zeros_like(p.value)
    it = np.nditer(p.value, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = p.value[i]
        p.value[i] = old + eps
        lp = loss_of(graph, loss, x, y)
        p.value[i] = old - eps
        lm = loss_of(graph, loss, x, y)
        p.value[i] = old
        g[i] = (lp - lm) / (2 * eps)
    return g


def analytic(graph, loss, x, y):
    sched = derive_backward(graph)
    outs, tape = forward(graph, x, sched, dtype=np.float64)
    _, dy = loss(outs[graph.output_name], y, x)
    return sched, backward(graph, sched, tape, {graph.output_name: dy}, dtype=np.float64)


def rel_err(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-12)


def teacher(x):
    return np.tanh(x.reshape(len(x), -1)[:, :3] * 3.0)


LOSSES = {
    "cross_entropy": (CrossEntropy(), lambda rng, n, k: rng.integers(0, k, n)),
    "mse": (MSE(), lambda rng, n, k: rng.normal(size=(n, k))),
    "mse_labels": (MSE(), lambda rng, n, k: rng.integers(0, k, n)),
    "distillation": (Distillation(teacher, temperature=2.0, alpha=0.7), lambda rng, n, k: rng.integers(0, k, n)),
}


@pytest.mark.parametrize("loss_name", sorted(LOSSES))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_residual_graph_gradients(loss_name, seed):
    loss, make_y = LOSSES[loss_name]
    rng = np.random.default_rng(100 + seed)
    g = residual_graph(seed)
    x = rng.normal(size=(7, 6)) * 2.0
    y = make_y(rng, 7, 3)
    sched, grads = analytic(g, loss, x, y)
    assert set(grads) == {p.name for p in g.params.values() if p.trainable}
    assert "stem.weight" not in grads and "stem.bias" not in grads
    for name, ga in grads.items():
        gn = numeric_grad(g, loss, x, y, name)
        assert rel_err(ga, gn) < 1e-6, (name, rel_err(ga, gn))


def test_softmax_flatten_gradients():
    rng = np.random.default_rng(5)
    g = softmax_graph(3)
    x = rng.normal(size=(5, 2, 3))
    y = rng.normal(size=(5, 3))
    _, grads = analytic(g, MSE(), x, y)
    for name, ga in grads.items():
        assert rel_err(ga, numeric_grad(g, MSE(), x, y, name)) < 1e-6


def test_masked_and_clustered_params_gradients():
    rng = np.random.default_rng(9)
    g = to_f64(et.Sequential([et.Dense(5, "relu"), et.Dense(3)], 4, seed=1))
    w = g.params["dense1.weight"]
    w.mask = rng.random(w.shape) < 0.5
    w.value = w.value * w.mask
    c = g.params["dense2.weight"]
    c.indices = rng.integers(0, 4, c.shape)
    c.codebook = np.array([-0.5, -0.1, 0.2, 0.7])
    c.value = c.effective()
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    _, grads = analytic(g, CrossEntropy(), x, y)
    assert np.all(grads["dense1.weight"][~w.mask] == 0)
    assert grads["dense2.weight"].shape == (4,)  # gradient w.r.t. the codebook: sum over members
    eps = 1e-6
    num = np.zeros(4)
    for k in range(4):
        c.codebook[k] += eps
        lp = loss_of(g, CrossEntropy(), x, y)
        c.codebook[k] -= 2 * eps
        lm = loss_of(g, CrossEntropy(), x, y)
        c.codebook[k] += eps
        num[k] = (lp - lm) / (2 * eps)
    assert rel_err(grads["dense2.weight"], num) < 1e-6
    masked_num = numeric_grad(g, CrossEntropy(), x, y, "dense1.weight") * w.mask
    assert rel_err(grads["dense1.weight"], masked_num) < 1e-6


def test_frozen_prefix_keeps_no_activations_and_no_backward_steps():
    g = residual_graph(0, frozen=True)
    sched = derive_backward(g)
    names = [s.node.name for s in sched.steps]
    assert "stem" not in names  # nothing upstream of the frozen stem needs a gradient
    relu_stem = g.consumers("stem")[0].name
    assert relu_stem not in names
    # The first trainable dense after the frozen stem needs its input but not an input gradient.
    first = next(s for s in sched.steps if s.node.name == "dense1")
    assert first.need_dx == [False]
    _, tape = forward(g, np.ones((2, 6)), sched, dtype=np.float64)
    assert "stem" not in tape.saved
    # All frozen: nothing to do at all.
    for p in g.params.values():
        p.trainable = False
    assert derive_backward(g).steps == []

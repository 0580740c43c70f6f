"""Convolution, pooling and batch_norm rules: forward against a direct loop-per-pixel reference,
float64 finite-difference checks of input, weight and bias gradients, and the compiled training
step bit-identical to the reference walk on a small CNN."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import edgetrain as et
from edgetrain.engine.autodiff import derive_backward
from edgetrain.engine.executor import backward, forward
from edgetrain.engine.losses import MSE
from edgetrain.engine.mode import training_forward
from edgetrain.graph import Graph, Node, Param
from edgetrain.ops import get_op
from edgetrain.ops.base import IN0, OUT

EPS = 1e-6


def make_node(kind: str, in_shape: tuple[int, ...], params: dict[str, np.ndarray], **attrs) -> tuple[Node, dict]:
    """A validated node of `kind` over a sample shape, and its parameters as float64 arrays."""
    node = Node(f"{kind}_t", kind, ["x"], {r: f"p.{r}" for r in params}, dict(attrs))
    ps = {r: Param(f"p.{r}", v.astype(np.float64)) for r, v in params.items()}
    node.out_shape = get_op(kind).infer_shape(node, [in_shape], ps)
    return node, {r: p.value for r, p in ps.items()}


def run(kind, node, x, ws, training=False):
    with training_forward(training):
        return get_op(kind).forward(node, [x], ws)


def numeric(f, a: np.ndarray) -> np.ndarray:
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + EPS
        lp = f()
        a[i] = old - EPS
        lm = f()
        a[i] = old
        g[i] = (lp - lm) / (2 * EPS)
    return g


def rel_err(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max(), np.abs(b).max(), 1e-12)


def check_gradients(kind, node, x, ws, training=False, tol=1e-6):
    """Every gradient the rule gives (input and each parameter) against central differences of
    sum(forward * r)."""
    op = get_op(kind)
    rng = np.random.default_rng(1)
    y = run(kind, node, x, ws, training)
    assert y.shape == (x.shape[0], *node.out_shape)
    r = rng.normal(size=y.shape)
    roles = {k for k in ws if k not in getattr(op, "state_roles", ())}
    saved_keys = op.saves([True], roles)
    saved = {k: v for k, v in {IN0: x, OUT: y}.items() if k in saved_keys}
    [dx], dws = op.backward(node, r, saved, ws, [True], roles)
    assert set(dws) == roles

    def loss():
        return float((run(kind, node, x, ws, training) * r).sum())

    assert dx.shape == x.shape
    assert rel_err(dx, numeric(loss, x)) < tol, "input"
    for role in roles:
        assert rel_err(dws[role], numeric(loss, ws[role])) < tol, role


# -- reference forward, loop per output pixel ------------------------------------------------------

def conv2d_reference(x, w, b, stride, dilation, pads, groups):
    (t, bo), (l, r) = pads
    xp = np.pad(x, ((0, 0), (t, bo), (l, r), (0, 0)))
    kh, kw, cig, cout = w.shape
    cog = cout // groups
    ho = (xp.shape[1] - (kh - 1) * dilation[0] - 1) // stride[0] + 1
    wo = (xp.shape[2] - (kw - 1) * dilation[1] - 1) // stride[1] + 1
    y = np.zeros((x.shape[0], ho, wo, cout))
    for i, j, o in itertools.product(range(ho), range(wo), range(cout)):
        g = o // cog
        patch = xp[:, i * stride[0]:i * stride[0] + (kh - 1) * dilation[0] + 1:dilation[0],
                   j * stride[1]:j * stride[1] + (kw - 1) * dilation[1] + 1:dilation[1], g * cig:(g + 1) * cig]
        y[:, i, j, o] = (patch * w[:, :, :, o]).sum(axis=(1, 2, 3)) + (b[o] if b is not None else 0)
    return y


CONV_CASES = [
    # stride, dilation, padding, groups, cin, cout
    (1, 1, "same", 1, 3, 4),
    (2, 1, "same", 1, 3, 4),
    (1, 2, "same", 1, 2, 3),
    (2, 2, "valid", 1, 2, 3),
    (1, 1, "valid", 2, 4, 6),
    (2, 1, [[2, 0], [0, 1]], 2, 4, 2),
    (1, 1, "same", "depthwise", 3, 3),
    (2, 2, "same", "depthwise", 2, 4),  # depth multiplier 2
    ((2, 1), (1, 2), [[0, 1], [2, 1]], 1, 2, 2),
]


def _conv_params(rng, k, cin, cout, groups, bias=True):
    groups = cin if groups == "depthwise" else groups
    params = {"weight": rng.normal(size=(*k, cin // groups, cout))}
    if bias:
        params["bias"] = rng.normal(size=cout)
    return params, groups


@pytest.mark.parametrize("stride,dilation,padding,groups,cin,cout", CONV_CASES)
def test_conv2d_forward_and_gradients(stride, dilation, padding, groups, cin, cout):
    rng = np.random.default_rng(0)
    params, groups = _conv_params(rng, (3, 2), cin, cout, groups)
    node, ws = make_node("conv2d", (6, 5, cin), params, stride=stride, dilation=dilation, padding=padding,
                         groups=groups)
    x = rng.normal(size=(2, 6, 5, cin))
    from edgetrain.ops.conv import geometry

    geo = geometry((6, 5), (3, 2), node.attrs, "t")
    want = conv2d_reference(x, ws["weight"], ws["bias"], geo.stride, geo.dilation, geo.pads, groups)
    np.testing.assert_allclose(run("conv2d", node, x, ws), want, rtol=1e-12, atol=1e-12)
    check_gradients("conv2d", node, x, ws)


def test_same_padding_keeps_the_size_at_stride_1_and_ceil_divides_otherwise():
    rng = np.random.default_rng(0)
    for stride, want in ((1, (7, 6, 2)), (2, (4, 3, 2)), (3, (3, 2, 2))):
        node, _ = make_node("conv2d", (7, 6, 1), {"weight": rng.normal(size=(3, 3, 1, 2))}, stride=stride,
                            padding="same")
        assert node.out_shape == want


@pytest.mark.parametrize("stride,dilation,padding,groups", [
    (1, 1, "same", 1), (2, 1, "valid", 1), (1, 2, [2, 1], 1), (2, 1, "same", 2), (1, 1, "same", "depthwise")])
def test_conv1d_equals_conv2d_with_height_1_and_gradients(stride, dilation, padding, groups):
    rng = np.random.default_rng(3)
    params, groups = _conv_params(rng, (3,), 4, 4, groups)
    node, ws = make_node("conv1d", (9, 4), params, stride=stride, dilation=dilation, padding=padding, groups=groups)
    x = rng.normal(size=(3, 9, 4))
    pad2 = [[0, 0], padding] if isinstance(padding, list) else padding
    node2, ws2 = make_node("conv2d", (1, 9, 4), {"weight": ws["weight"][None], "bias": ws["bias"]},
                           stride=[1, stride], dilation=[1, dilation], padding=pad2, groups=groups)
    np.testing.assert_array_equal(run("conv1d", node, x, ws), run("conv2d", node2, x[:, None], ws2)[:, 0])
    check_gradients("conv1d", node, x, ws)


def test_conv_without_bias_gradients():
    rng = np.random.default_rng(4)
    node, ws = make_node("conv2d", (4, 4, 2), {"weight": rng.normal(size=(2, 2, 2, 3))}, stride=2, padding="same")
    check_gradients("conv2d", node, rng.normal(size=(2, 4, 4, 2)), ws)


# -- pooling ----------------------------------------------------------------------------------------

POOL_CASES = [
    # pool, stride, padding, sample shape
    (2, None, "valid", (6, 5, 3)),
    (3, 2, "same", (7, 5, 2)),
    ((2, 3), 1, "same", (4, 5, 2)),
    (2, None, "valid", (7, 3)),
    (3, 2, "same", (8, 2)),
    (3, 1, "same", (5, 2)),
]


@pytest.mark.parametrize("kind", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("pool,stride,padding,shape", POOL_CASES)
def test_pool_forward_and_gradients(kind, pool, stride, padding, shape):
    rng = np.random.default_rng(5)
    node, ws = make_node(kind, shape, {}, pool=pool, stride=stride, padding=padding)
    x = rng.normal(size=(2, *shape))
    y = run(kind, node, x, ws)
    # Reference: each output is the max / mean of the input values its window covers.
    x4 = x if x.ndim == 4 else x[:, None]
    from edgetrain.ops.conv import geometry

    p = pool if not isinstance(pool, int) else [pool] * (x.ndim - 2)
    geo = geometry(shape[:-1], p, {"stride": stride or p, "padding": padding}, "t")
    y4 = y if y.ndim == 4 else y[:, None]
    (t, _), (l, _) = geo.pads
    for i, j in itertools.product(range(geo.out_hw[0]), range(geo.out_hw[1])):
        h0, w0 = i * geo.stride[0] - t, j * geo.stride[1] - l
        win = x4[:, max(h0, 0):h0 + geo.kernel[0], max(w0, 0):w0 + geo.kernel[1]]
        want = win.max(axis=(1, 2)) if kind == "max_pool" else win.mean(axis=(1, 2))
        np.testing.assert_allclose(y4[:, i, j], want, rtol=1e-12)
    check_gradients(kind, node, x, ws)


@pytest.mark.parametrize("shape", [(4, 3, 2), (5, 3)])
def test_global_avg_pool_gradients(shape):
    rng = np.random.default_rng(6)
    node, ws = make_node("global_avg_pool", shape, {})
    x = rng.normal(size=(3, *shape))
    np.testing.assert_allclose(run("global_avg_pool", node, x, ws), x.reshape(3, -1, shape[-1]).mean(axis=1))
    check_gradients("global_avg_pool", node, x, ws)


# -- batch_norm ---------------------------------------------------------------------------------------

def _bn(rng, shape, **attrs):
    c = shape[-1]
    return make_node("batch_norm", shape, {"scale": rng.normal(size=c), "bias": rng.normal(size=c),
                                           "mean": rng.normal(size=c), "var": rng.uniform(0.5, 2, c)}, **attrs)


@pytest.mark.parametrize("shape", [(5,), (4, 3), (3, 4, 2)])
def test_batch_norm_training_gradients_through_batch_statistics(shape):
    rng = np.random.default_rng(7)
    node, ws = _bn(rng, shape)
    x = rng.normal(size=(4, *shape)) * 2 + 1
    check_gradients("batch_norm", node, x, ws, training=True)


def test_batch_norm_modes_and_running_statistics():
    rng = np.random.default_rng(8)
    node, ws = _bn(rng, (3, 2), momentum=0.8, eps=1e-3)
    x = rng.normal(size=(5, 3, 2))
    with training_forward() as mode:
        y = get_op("batch_norm").forward(node, [x], ws)
    flat = x.reshape(-1, 2)
    np.testing.assert_allclose(y, (x - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-3) * ws["scale"] + ws["bias"])
    np.testing.assert_allclose(mode.updates["p.mean"], 0.8 * ws["mean"] + 0.2 * flat.mean(0))
    np.testing.assert_allclose(mode.updates["p.var"], 0.8 * ws["var"] + 0.2 * flat.var(0))
    y_inf = run("batch_norm", node, x, ws)  # inference: running statistics, no updates
    np.testing.assert_allclose(y_inf, (x - ws["mean"]) / np.sqrt(ws["var"] + 1e-3) * ws["scale"] + ws["bias"])


def small_cnn(seed: int = 0, dtype=np.float32) -> Graph:
    model = et.Sequential([
        et.Conv2D(4, 3, activation="relu"), et.BatchNorm(), et.MaxPool2D(2),
        et.DepthwiseConv2D(3, depth_multiplier=2, stride=2, padding="same"), et.ReLU(),
        et.Conv2D(3, (1, 1), padding="valid"), et.AvgPool2D(2, stride=1, padding="same"),
        et.GlobalAvgPool(), et.Dense(5),
    ], input_shape=(8, 8, 1), seed=seed)
    for p in model.params.values():
        p.value = p.value.astype(dtype)
    return model


def test_training_forward_updates_running_statistics_in_the_graph():
    g = small_cnn()
    bn = next(n for n in g.nodes if n.op == "batch_norm")
    before = g.params[bn.params["mean"]].value.copy()
    x = np.random.default_rng(0).normal(size=(6, 8, 8, 1))
    et.predict(g, x)  # inference: no update
    assert np.array_equal(g.params[bn.params["mean"]].value, before)
    sched = derive_backward(g)
    assert all(r in ("scale", "bias") for s in sched.steps if s.node.op == "batch_norm" for r in s.need_dparams)
    forward(g, x, sched)
    assert not np.array_equal(g.params[bn.params["mean"]].value, before)


def test_small_cnn_parameter_gradients_through_the_engine():
    """The whole walk in float64 training mode against finite differences of the loss."""
    g = small_cnn(1, np.float64)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4, 8, 8, 1)), rng.normal(size=(4, 5))
    sched = derive_backward(g)
    outs, tape = forward(g, x, sched, dtype=np.float64)
    _, dy = MSE()(outs[g.output_name], y, x)
    grads = backward(g, sched, tape, {g.output_name: dy}, dtype=np.float64)
    assert set(grads) == {n for n, p in g.params.items() if not n.endswith((".mean", ".var"))}

    def loss():
        return MSE()(forward(g, x, dtype=np.float64, training=True)[0][g.output_name], y, x)[0]

    state = {n: p.value.copy() for n, p in g.params.items()}
    for name in ("conv2d1.weight", "conv2d2.bias", "conv2d2.weight", "batch_norm1.scale", "conv2d3.weight"):
        assert rel_err(grads[name], numeric(loss, g.params[name].value)) < 1e-6, name
        for n, v in state.items():  # the training forwards moved the running statistics: restore
            g.params[n].value[...] = v


def test_compiled_step_is_bit_identical_to_the_reference_walk():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(70, 8, 8, 1)).astype(np.float32), rng.integers(0, 5, 70)
    runs = []
    for compiled in (True, False):
        g = small_cnn(4)
        losses: list[float] = []

        class Rec(et.Callback):
            def on_step_end(self, trainer, step, loss):
                losses.append(loss)

        t = et.Trainer(g, et.SGD(0.05, momentum=0.9), batch_size=32, seed=3, progress=False, callbacks=[Rec()],
                       compiled=compiled)
        t.fit(et.Split(x, y), epochs=2)
        runs.append((g, losses))
    (ga, la), (gb, lb) = runs
    assert len(la) == 6 and la == lb
    for name in ga.params:
        assert np.array_equal(ga.params[name].value, gb.params[name].value), name


def test_frozen_batch_norm_uses_running_statistics_while_training():
    """A batch_norm whose scale and bias do not train (a frozen body) normalises with its running
    statistics, keeps them, and passes the gradient through that affine map."""
    g = small_cnn(5, np.float64)
    bn = next(n for n in g.nodes if n.op == "batch_norm")
    rng = np.random.default_rng(6)
    for role in ("scale", "bias", "mean"):
        g.params[bn.params[role]].value = rng.normal(size=4)
    g.params[bn.params["var"]].value = rng.uniform(0.5, 2, 4)
    for role in ("scale", "bias"):
        g.params[bn.params[role]].trainable = False
    for name in ("conv2d1.weight", "conv2d1.bias"):
        g.params[name].trainable = True
    before = {r: g.params[bn.params[r]].value.copy() for r in ("mean", "var")}
    x, y = rng.normal(size=(4, 8, 8, 1)), rng.normal(size=(4, 5))
    sched = derive_backward(g)
    outs, tape = forward(g, x, sched, dtype=np.float64)
    for r, v in before.items():
        assert np.array_equal(g.params[bn.params[r]].value, v)
    inference = forward(g, x, dtype=np.float64)[0][g.output_name]
    np.testing.assert_array_equal(outs[g.output_name], inference)
    _, dy = MSE()(outs[g.output_name], y, x)
    grads = backward(g, sched, tape, {g.output_name: dy}, dtype=np.float64)
    assert "batch_norm1.scale" not in grads

    def loss():
        return MSE()(forward(g, x, dtype=np.float64, training=True)[0][g.output_name], y, x)[0]

    assert rel_err(grads["conv2d1.weight"], numeric(loss, g.params["conv2d1.weight"].value)) < 1e-6

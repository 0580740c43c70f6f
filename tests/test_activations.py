"""leaky_relu, sigmoid, tanh and hard_swish: numpy rules, gradients, training, the Python and TOML
model APIs, ONNX export (inference and train step), ONNX Runtime training artifacts and ONNX import.

The C kernels and the int8 tables are tested in test_activation_kernels.py.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import edgetrain as et
from edgetrain.config import parse_config, parse_layer
from edgetrain.engine.losses import MSE, CrossEntropy
from edgetrain.interop.onnx import build_inference_model, build_train_step
from edgetrain.interop.onnx.emitters import EMITTERS, expand_hard_swish
from edgetrain.interop.onnx.importer import SUPPORTED, import_onnx
from edgetrain.layers import ACTIVATIONS, HardSwish, Layer, LeakyReLU, Sigmoid, Tanh
from edgetrain.ops import OPS, get_op
from edgetrain.ops.activations import LEAKY_RELU_ALPHA, hard_swish, leaky_relu, sigmoid
from edgetrain.ops.base import IN0, OUT
from edgetrain.train_run import train_from_config

from helpers import digits  # noqa: F401  (fixture)
from test_core_gradients import analytic, numeric_grad, rel_err, to_f64

KINDS = ("leaky_relu", "sigmoid", "tanh", "hard_swish")
ONNX_OP = {"leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh", "hard_swish": "HardSwish"}
TOL = 1e-5


def layer(kind: str) -> Layer:
    return {"leaky_relu": LeakyReLU(0.2), "sigmoid": Sigmoid(), "tanh": Tanh(), "hard_swish": HardSwish()}[kind]


def node(kind: str, **attrs) -> et.Node:
    n = et.Node(kind + "1", kind, ["x"], {}, dict(attrs))
    get_op(kind).infer_shape(n, [(4,)], {})
    return n


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


# --- the numpy rules --------------------------------------------------------------------------------


def test_registered_everywhere():
    for kind in KINDS:
        assert kind in OPS and kind in EMITTERS and kind in ACTIVATIONS
        assert get_op(kind).uses_out and not getattr(get_op(kind), "is_view", False)
        assert getattr(get_op(kind), "clamp", None) is None  # not a plain clamp: never fused as one
    assert {"LeakyRelu", "Sigmoid", "Tanh", "HardSwish"} <= set(SUPPORTED)


def test_forward_values():
    x = np.array([-100.0, -6.0, -3.0, -1.0, -0.0, 0.0, 0.5, 1.0, 3.0, 4.0, 100.0], np.float32)
    f64 = x.astype(np.float64)
    y = get_op("hard_swish").forward(node("hard_swish"), [x], {})
    assert y.dtype == np.float32
    assert y.tolist() == pytest.approx([0, 0, 0, -1 / 3, 0, 0, 0.5 * 3.5 / 6, 4 / 6, 3, 4, 100], abs=1e-7)
    y = get_op("leaky_relu").forward(node("leaky_relu", alpha=0.25), [x], {})
    assert y.tolist() == np.where(f64 > 0, f64, 0.25 * f64).tolist()  # exact: 0.25 is a float32
    y = get_op("leaky_relu").forward(node("leaky_relu"), [x], {})  # default slope
    assert y[0] == np.float32(-100) * np.float32(0.01) and y[-1] == 100
    y = get_op("tanh").forward(node("tanh"), [x], {})
    assert np.abs(y - np.tanh(f64)).max() < 1e-7
    y = get_op("sigmoid").forward(node("sigmoid"), [x], {})
    assert np.abs(y - 1 / (1 + np.exp(-f64))).max() < 1e-7
    assert sigmoid(np.float32([0.0]))[0] == 0.5


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([-1e30, -1e4, -200.0, -88.0, -20.0, 20.0, 88.0, 200.0, 1e4, 1e30, np.inf, -np.inf], np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow in exp, no 0/0
        y = sigmoid(x)
        y64 = sigmoid(x.astype(np.float64))
    assert y.dtype == np.float32 and y64.dtype == np.float64
    assert np.all(np.isfinite(y)) and np.all((y >= 0) & (y <= 1))
    assert y[0] == y[1] == y[2] == 0 and y[7] == y[8] == y[9] == 1 and y[10] == 1 and y[11] == 0
    assert 0 < y[3] < 1e-38 or y[3] == 0  # exp(-88) is near float32's smallest normal
    assert abs(y[4] - 2.061153618190204e-09) < 1e-15
    # the formula is 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) below: symmetric to rounding
    z = np.linspace(-30, 30, 601).astype(np.float32)
    assert np.abs(sigmoid(z) + sigmoid(-z) - 1).max() <= np.finfo(np.float32).eps  # one ulp of 1


@pytest.mark.parametrize("kind", KINDS)
def test_rules_write_into_out_and_give_the_same_bits(kind):
    rng = np.random.default_rng(1)
    n = node(kind, **({"alpha": 0.1} if kind == "leaky_relu" else {}))
    op = get_op(kind)
    x = (rng.standard_normal((5, 4)) * 4).astype(np.float32)
    y = op.forward(n, [x], {})
    buf = np.full_like(x, np.nan)
    assert op.forward(n, [x], {}, out=buf) is buf and np.array_equal(buf, y)
    saves = op.saves([True], set())
    assert saves == ({IN0} if kind == "hard_swish" else {OUT})
    assert op.saves([False], set()) == set()
    saved = {IN0: x} if kind == "hard_swish" else {OUT: y}
    dy = rng.standard_normal((5, 4)).astype(np.float32)
    (dx,), grads = op.backward(n, dy, saved, {}, [True], set())
    gbuf = np.full_like(x, np.nan)
    (dx2,), _ = op.backward(n, dy, saved, {}, [True], set(), out={IN0: gbuf})
    assert grads == {} and dx.dtype == np.float32
    assert dx2 is gbuf and np.array_equal(dx, dx2)


def test_backward_rules_at_the_regions():
    x = np.array([-5.0, -3.0, -1.5, 0.0, 1.5, 3.0, 5.0], np.float32)
    dy = np.full_like(x, 2.0)
    (dx,), _ = get_op("hard_swish").backward(node("hard_swish"), dy, {IN0: x}, {}, [True], set())
    assert dx.tolist() == pytest.approx([0, 2 * (-1 + 0.5), 2 * (-0.5 + 0.5), 1, 2 * 1.0, 2 * 1.5, 2], abs=1e-6)
    y = leaky_relu(x, 0.5)
    (dx,), _ = get_op("leaky_relu").backward(node("leaky_relu", alpha=0.5), dy, {OUT: y}, {}, [True], set())
    assert dx.tolist() == [1, 1, 1, 1, 2, 2, 2]  # x = 0 takes the slope alpha, as relu takes 0


# --- gradients by central differences (float64) -----------------------------------------------------


def act_graph(kind: str, seed: int) -> et.Graph:
    """dense -> kind -> dense -> kind -> dense, scaled so hard_swish sees all three regions."""
    spec = [et.Dense(6), layer(kind), et.Dense(5, kind), et.Dense(3)]
    g = et.Sequential(spec, 4, seed=seed)
    for p in g.params.values():
        p.value *= 2.0
    return to_f64(g)


@pytest.mark.parametrize("loss", [CrossEntropy(), MSE()], ids=["cross_entropy", "mse"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("kind", KINDS)
def test_gradients_match_central_differences(kind, seed, loss):
    rng = np.random.default_rng(10 + seed)
    g = act_graph(kind, seed)
    x = rng.normal(size=(7, 4)) * 2.0
    y = rng.integers(0, 3, 7) if isinstance(loss, CrossEntropy) else rng.normal(size=(7, 3))
    if kind == "hard_swish":  # the inputs reach both flat regions and the curved one
        from edgetrain.engine.executor import forward

        pre = forward(g, x, outputs=["dense1"], dtype=np.float64)[0]["dense1"]
        assert (pre < -3).any() and (pre > 3).any() and (np.abs(pre) < 3).any()
    sched, grads = analytic(g, loss, x, y)
    assert set(grads) == set(g.params)
    for name, ga in grads.items():
        gn = numeric_grad(g, loss, x, y, name)
        assert rel_err(ga, gn) < 1e-6, (name, rel_err(ga, gn))


def test_input_gradient_of_each_rule_matches_central_differences():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 4)) * 3
    dy = rng.normal(size=(3, 4))
    for kind in KINDS:
        n = node(kind, **({"alpha": 0.3} if kind == "leaky_relu" else {}))
        op = get_op(kind)
        saved = {IN0: x, OUT: op.forward(n, [x], {})}
        (dx,), _ = op.backward(n, dy, {k: saved[k] for k in op.saves([True], set())}, {}, [True], set())
        eps = 1e-6  # element-wise ops: shifting every input at once differentiates each one
        num = (op.forward(n, [x + eps], {}) - op.forward(n, [x - eps], {})) / (2 * eps) * dy
        assert np.abs(dx - num).max() < 1e-6, kind


def test_frozen_prefix_keeps_nothing_for_activations():
    g = act_graph("hard_swish", 0)
    for name in ("dense1.weight", "dense1.bias"):
        g.params[name].trainable = False
    sched = et.derive_backward(g)
    assert "hard_swish1" not in {s.node.name for s in sched.steps}
    assert sched.saved.get("hard_swish2") == {IN0}


# --- training ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "reference"])
def test_training_reduces_loss(digits, kind, compiled):
    model = et.Sequential([et.Dense(32), layer(kind), et.Dense(10)], 64, seed=0)
    trainer = et.Trainer(model, et.Adam(3e-3), progress=False, compiled=compiled)
    x, y = digits.train.x[:256], digits.train.y[:256]
    losses = []
    for epoch in range(6):
        for i in range(0, len(x), 32):
            losses.append(trainer.train_step(x[i:i + 32], y[i:i + 32]))
    assert np.mean(losses[-8:]) < 0.6 * np.mean(losses[:8]), kind
    acc = float((et.predict(model, digits.test.x).argmax(1) == digits.test.y).mean())
    assert acc > 0.6, (kind, acc)


def test_compiled_step_is_bit_identical_to_reference_walk(digits):
    def make():
        return et.Sequential([et.Dense(16, "tanh"), LeakyReLU(0.1), et.Dense(16, "sigmoid"), et.Dense(16),
                              HardSwish(), et.Dense(10, "leaky_relu")], 64, seed=3)

    a, b = make(), make()
    ta = et.Trainer(a, et.SGD(0.1, momentum=0.9), progress=False, compiled=True)
    tb = et.Trainer(b, et.SGD(0.1, momentum=0.9), progress=False, compiled=False)
    for i in range(0, 160, 32):
        xb, yb = digits.train.x[i:i + 32], digits.train.y[i:i + 32]
        assert ta.train_step(xb, yb) == tb.train_step(xb, yb)
    for name in a.params:
        assert np.array_equal(a.params[name].value, b.params[name].value), name


# --- Python and TOML model APIs ---------------------------------------------------------------------


def test_python_api_builds_the_ops():
    m = et.Sequential([et.Dense(8, "tanh"), LeakyReLU(0.2, name="lr"), et.Dense(6, "sigmoid"), HardSwish(),
                       et.Dense(4, "leaky_relu"), et.Dense(3, "hard_swish"), Sigmoid(), Tanh()], 5, seed=0)
    assert [(n.op, n.attrs) for n in m.nodes if n.op != "dense"] == [
        ("tanh", {}), ("leaky_relu", {"alpha": 0.2}), ("sigmoid", {}), ("hard_swish", {}),
        ("leaky_relu", {"alpha": LEAKY_RELU_ALPHA}), ("hard_swish", {}), ("sigmoid", {}), ("tanh", {})]
    assert m.node("lr").op == "leaky_relu"
    b = et.GraphBuilder(5)
    h = b.dense(b.input, 4, activation="sigmoid")
    h = b.node("leaky_relu", [h], alpha=0.3)
    g = b.build(b.apply(h, LeakyReLU(0.05)))
    assert [n.attrs.get("alpha") for n in g.nodes] == [None, None, 0.3, 0.05]


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, float("nan"), True, "0.1", None])
def test_bad_alpha_is_a_config_error(alpha):
    with pytest.raises(et.ConfigError, match="alpha"):
        LeakyReLU(alpha)  # type: ignore[arg-type]


def test_bad_alpha_in_a_graph_is_an_invalid_model():
    b = et.GraphBuilder(3)
    with pytest.raises(et.InvalidModelError, match=r"alpha must be in \(0, 1\)"):
        b.node("leaky_relu", [b.input], alpha=2.0)


def test_unknown_activation_lists_the_new_kinds():
    with pytest.raises(et.ConfigError) as e:
        et.Dense(4, "swish")
    assert "hard_swish" in e.value.hint and "leaky_relu" in e.value.hint


def toml_doc(layers):
    return {"data": {"source": "digits"}, "model": {"layers": layers}, "train": {"epochs": 3, "batch_size": 64}}


def test_toml_layers_build_the_ops(digits):
    layers = [{"type": "dense", "units": 16, "activation": "tanh"}, {"type": "leaky_relu", "alpha": 0.2},
              {"type": "dense", "units": 16, "activation": "sigmoid"}, {"type": "hard_swish"},
              {"type": "dense", "units": 16}, {"type": "leaky_relu"}, {"type": "sigmoid"}, {"type": "tanh"},
              {"type": "dense", "units": 10, "activation": "hard_swish"}]
    cfg = parse_config(toml_doc(layers))
    g = et.Sequential(cfg.layers, 64)
    assert [(n.op, n.attrs) for n in g.nodes if n.op != "dense"] == [
        ("tanh", {}), ("leaky_relu", {"alpha": 0.2}), ("sigmoid", {}), ("hard_swish", {}),
        ("leaky_relu", {"alpha": 0.01}), ("sigmoid", {}), ("tanh", {}), ("hard_swish", {})]
    result = train_from_config(parse_config(toml_doc(layers[:2] + [{"type": "dense", "units": 10}])))
    assert result.history.epochs[-1]["loss"] < result.history.epochs[0]["loss"]


@pytest.mark.parametrize("spec, needle", [
    ({"type": "leaky_relu", "alpha": 1.5}, "alpha must be in (0, 1)"),
    ({"type": "leaky_relu", "alpha": "x"}, "alpha must be a number"),
    ({"type": "leaky_relu", "slope": 0.1}, "unknown option(s) ['slope']"),
    ({"type": "sigmoid", "alpha": 0.1}, "unknown option(s) ['alpha'] for a sigmoid layer"),
    ({"type": "hard_swish", "alpha": 0.1}, "unknown option(s) ['alpha'] for a hard_swish layer"),
])
def test_toml_layer_errors(spec, needle):
    with pytest.raises(et.ConfigError) as e:
        parse_layer(spec, "cfg: model.layers[1]")
    assert needle in str(e.value) and str(e.value).startswith("cfg: model.layers[1]")


def test_model_file_keeps_alpha(tmp_path, digits):
    m = et.Sequential([et.Dense(16), LeakyReLU(0.125), et.Dense(10, "hard_swish")], 64, seed=1)
    et.save_model(m, tmp_path / "m.etm")
    back = et.load_model(tmp_path / "m.etm")
    assert [(n.name, n.op, n.attrs) for n in back.nodes] == [(n.name, n.op, n.attrs) for n in m.nodes]
    assert np.array_equal(et.predict(back, digits.test.x), et.predict(m, digits.test.x))


# --- ONNX: inference export, train step, ORT artifacts, import --------------------------------------


def mixed_model(seed=0):
    return et.Sequential([et.Dense(32, "tanh"), LeakyReLU(0.2), et.Dense(32, "sigmoid"), et.Dense(32),
                          HardSwish(), et.Dense(10, "leaky_relu")], 64, seed=seed)


def single_model(kind, seed=0):
    return et.Sequential([et.Dense(32), layer(kind), et.Dense(16, kind), et.Dense(10)], 64, seed=seed)


@pytest.mark.parametrize("kind", [*KINDS, "mixed"])
def test_onnx_inference_matches_numpy(digits, kind):
    model = mixed_model() if kind == "mixed" else single_model(kind)
    et.fit(model, et.Split(digits.train.x[:200], digits.train.y[:200]), epochs=2, optimizer="adam", lr=3e-3)
    om = build_inference_model(model)
    ops = [n.op_type for n in om.graph.node]
    for k in KINDS if kind == "mixed" else [kind]:
        assert ONNX_OP[k] in ops
    for n in om.graph.node:
        if n.op_type == "LeakyRelu":
            alpha = helper.get_attribute_value(n.attribute[0])
            assert np.float32(alpha) == np.float32(model.node(n.output[0]).attrs["alpha"])
    got = session(om).run(None, {"input": digits.test.x})[0]
    diff = np.abs(got - et.predict(model, digits.test.x)).max()
    assert diff <= TOL, diff


def run_train_steps(model, ts, optimizer, digits, lr, steps=15, batch=32):
    sess = session(ts.model)
    names = [o.name for o in sess.get_outputs()]
    trainer = et.Trainer(model, optimizer, progress=False)
    state = dict(ts.initial_state)
    rng = np.random.default_rng(0)
    diffs, losses = [], []
    for _ in range(steps):
        idx = rng.choice(len(digits.train.x), batch, replace=False)
        xb, yb = digits.train.x[idx], digits.train.y[idx]
        out = dict(zip(names, sess.run(None, ts.feeds(xb, yb, lr, state))))
        state = ts.next_state(out)
        ref = trainer.train_step(xb, yb)
        diffs.append(abs(float(out["loss"]) - ref))
        losses.append(ref)
    return state, max(diffs), losses


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("kind", [*KINDS, "mixed"])
def test_onnx_train_step_matches_numpy(digits, kind, opt):
    model = mixed_model(seed=2) if kind == "mixed" else single_model(kind, seed=2)
    kwargs = {"lr": 0.1, "momentum": 0.9} if opt == "sgd" else {"lr": 3e-3}
    ts = build_train_step(model, opt, **kwargs)
    assert all(n.domain in ("", "ai.onnx") for n in ts.model.graph.node)
    state, loss_diff, losses = run_train_steps(model, ts, et.make_optimizer(opt, **kwargs), digits, kwargs["lr"])
    assert losses[-1] < losses[0]
    assert loss_diff <= TOL, loss_diff
    for name in ts.trainable:
        diff = np.abs(state[name] - model.params[name].value).max()
        assert diff <= TOL, (name, diff)


def test_onnx_train_step_mse_with_frozen_first_layer(digits):
    model = mixed_model(seed=4)
    et.set_trainable(model, "last:3")
    ts = build_train_step(model, "sgd", loss="mse", lr=0.05)
    assert "dense1.weight" not in {i.name for i in ts.model.graph.input}
    sess = session(ts.model)
    names = [o.name for o in sess.get_outputs()]
    trainer = et.Trainer(model, et.SGD(0.05), loss="mse", progress=False)
    state = dict(ts.initial_state)
    for i in range(5):
        xb, yb = digits.train.x[32 * i:32 * (i + 1)], digits.train.y[32 * i:32 * (i + 1)]
        out = dict(zip(names, sess.run(None, ts.feeds(xb, np.eye(10, dtype=np.float32)[yb], 0.05, state))))
        state = ts.next_state(out)
        assert abs(float(out["loss"]) - trainer.train_step(xb, yb)) <= TOL
    for name in ts.trainable:
        assert np.abs(state[name] - model.params[name].value).max() <= TOL


def test_expand_hard_swish_is_the_numpy_formula(digits):
    model = single_model("hard_swish", seed=1)
    om = build_inference_model(model)
    ex = expand_hard_swish(om)
    onnx.checker.check_model(ex, full_check=True)
    assert "HardSwish" not in {n.op_type for n in ex.graph.node} and "HardSwish" in {n.op_type for n in om.graph.node}
    assert [o.name for o in ex.graph.output] == [o.name for o in om.graph.output]
    assert {o for n in ex.graph.node for o in n.output} >= {n.name for n in model.nodes}
    # Through dense layers the numpy engine's BLAS and ORT's sum in other orders (how far apart
    # depends on the CPU's kernels), so the model agrees to the float32 tolerance; the spelling
    # itself, on a model of one hard_swish, is the numpy formula bit for bit.
    want = et.predict(model, digits.test.x)
    got = session(ex).run(None, {"input": digits.test.x})[0]
    assert np.abs(got - want).max() <= 1e-5 * max(1.0, float(np.abs(want).max()))
    lone = et.Sequential([et.HardSwish()], 64)
    x = np.concatenate([digits.test.x, np.linspace(-8, 8, 64 * 50, dtype=np.float32).reshape(50, 64)])
    alone = session(expand_hard_swish(build_inference_model(lone))).run(None, {"input": x})[0]
    np.testing.assert_array_equal(alone, et.predict(lone, x))
    assert expand_hard_swish(build_inference_model(single_model("tanh"))).graph.node  # nothing to expand: a copy


@pytest.mark.parametrize("kind", KINDS)
def test_ort_training_artifacts_match_numpy(tmp_path, digits, kind, monkeypatch):
    """ONNX Runtime 1.19 training has no HardSwish gradient (export_ort_artifacts fails with "could
    not build training artifacts"): its artifacts are built from the expand_hard_swish spelling."""
    import edgetrain.interop.onnx.ort_training as ot
    from edgetrain.interop.onnx import export_ort_artifacts, ort_train

    if kind == "hard_swish":
        plain = ot.build_inference_model
        monkeypatch.setattr(ot, "build_inference_model",
                            lambda g, trainable=None: expand_hard_swish(plain(g, trainable=trainable)))
    x, y = digits.train.x[:128], digits.train.y[:128]
    model = et.Sequential([et.Dense(32), layer(kind), et.Dense(10)], 64, seed=0)
    reference = model.copy()
    export_ort_artifacts(model, tmp_path / "art", optimizer="sgd")
    res = ort_train(tmp_path / "art", x, y, epochs=3, batch_size=32, lr=0.05, seed=0, out_dir=tmp_path / "out")
    assert res.loss_after < res.loss_before
    et.fit(reference, (x, y), epochs=3, batch_size=32, optimizer=et.SGD(0.05), seed=0)
    for name, p in reference.params.items():
        assert np.abs(res.graph.params[name].value - p.value).max() <= 1e-4, name


@pytest.mark.parametrize("kind", [*KINDS, "mixed"])
def test_onnx_import_round_trip(digits, kind):
    model = mixed_model(seed=5) if kind == "mixed" else single_model(kind, seed=5)
    back = import_onnx(build_inference_model(model))
    assert [(n.name, n.op, n.inputs, n.params, n.attrs) for n in back.nodes] == \
        [(n.name, n.op, n.inputs, n.params, n.attrs) for n in model.nodes]
    assert np.array_equal(et.predict(back, digits.test.x), et.predict(model, digits.test.x))


def test_import_keeps_an_odd_alpha_as_the_same_float32():
    model = et.Sequential([et.Dense(4), LeakyReLU(0.1234567891), et.Dense(2)], 3, seed=0)
    back = import_onnx(build_inference_model(model))
    a_in, a_out = model.nodes[1].attrs["alpha"], back.nodes[1].attrs["alpha"]
    assert np.float32(a_in) == np.float32(a_out) and a_out == float(str(np.float32(a_in)))


def foreign_model(alpha_attr: dict) -> onnx.ModelProto:
    """A PyTorch-style Gemm stack with LeakyRelu, Sigmoid, Tanh and HardSwish between the layers."""
    rng = np.random.default_rng(0)
    inits, nodes, h = [], [], "input.1"
    acts = [("LeakyRelu", alpha_attr), ("Sigmoid", {}), ("Tanh", {}), ("HardSwish", {})]
    for i, (op, attrs) in enumerate(acts):
        w = numpy_helper.from_array((rng.standard_normal((8, 8)) * 0.8).astype(np.float32), f"fc{i}.weight")
        b = numpy_helper.from_array((rng.standard_normal(8) * 0.5).astype(np.float32), f"fc{i}.bias")
        inits += [w, b]
        nodes.append(helper.make_node("Gemm", [h, w.name, b.name], [f"/fc{i}/Gemm_output_0"], name=f"/fc{i}/Gemm",
                                      transB=1))
        h = "out" if i == len(acts) - 1 else f"/act{i}/{op}_output_0"
        nodes.append(helper.make_node(op, [f"/fc{i}/Gemm_output_0"], [h], name=f"/act{i}/{op}", **attrs))
    graph = helper.make_graph(nodes, "main_graph",
                              [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, ["N", 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 8])], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pytorch")
    m.ir_version = 8
    return m


@pytest.mark.parametrize("alpha_attr, alpha", [({}, 0.01), ({"alpha": 0.2}, 0.2)], ids=["default", "0.2"])
def test_import_foreign_activations(alpha_attr, alpha):
    om = foreign_model(alpha_attr)
    g = import_onnx(om)
    assert [n.op for n in g.nodes] == ["dense", "leaky_relu", "dense", "sigmoid", "dense", "tanh", "dense",
                                       "hard_swish"]
    assert g.nodes[1].attrs == {"alpha": alpha}
    x = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32) * 3
    diff = np.abs(et.predict(g, x) - session(om).run(None, {"input.1": x})[0]).max()
    assert diff <= TOL, diff


@pytest.mark.parametrize("alpha", [1.5, 1.0, 0.0, -0.2])
def test_import_rejects_leaky_alpha_outside_0_1(alpha):
    with pytest.raises(et.UnsupportedOpError, match=f"alpha={alpha}"):
        import_onnx(foreign_model({"alpha": alpha}))


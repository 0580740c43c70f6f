"""ONNX inference export and the standard-op train-step graph, checked against the numpy engine."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import edgetrain as et
from edgetrain.interop.onnx import IR_VERSION, OPSET, build_inference_model, build_train_step, export_onnx

TOL = 1e-5


@pytest.fixture(scope="module")
def digits():
    return et.load_data("digits")


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def dense_model(seed=0):
    return et.Sequential([et.Dense(32, "relu"), et.Dense(16, "relu6"), et.Dense(10)], input_shape=64, seed=seed)


def residual_model(seed=0):
    return et.Sequential([et.Dense(32, "relu"), et.Residual([et.Dense(32), et.ReLU(), et.Dense(32, use_bias=False)]),
                          et.Dense(10), et.Softmax()], input_shape=64, seed=seed)


def masked_model(seed=0, density=0.3):
    m = dense_model(seed)
    rng = np.random.default_rng(seed + 1)
    for name in ("dense1.weight", "dense2.weight"):
        p = m.params[name]
        p.mask = rng.random(p.shape) < density
        p.apply_constraints()
    return m


def short_train(model, digits, epochs=2):
    sub = et.Split(digits.train.x[:300], digits.train.y[:300])
    et.fit(model, sub, epochs=epochs, optimizer="adam", lr=3e-3)
    return model


@pytest.mark.parametrize("make", [dense_model, residual_model, masked_model], ids=["dense", "residual", "masked"])
def test_inference_matches_numpy_on_digits_test_set(digits, make):
    model = short_train(make(), digits)
    onnx_model = build_inference_model(model)
    assert onnx_model.opset_import[0].version == OPSET and onnx_model.ir_version == IR_VERSION
    assert [i.name for i in onnx_model.graph.input] == ["input"]
    assert {t.name for t in onnx_model.graph.initializer} >= set(model.params)
    assert {n.output[0] for n in onnx_model.graph.node} >= {n.name for n in model.nodes}
    got = session(onnx_model).run(None, {"input": digits.test.x})[0]
    want = et.predict(model, digits.test.x)
    assert got.shape == want.shape == (len(digits.test.x), 10)
    assert np.abs(got - want).max() <= TOL


def test_masked_weights_fold_and_clustered_weights_keep_codebook_and_byte_indices(digits):
    model = short_train(masked_model(), digits)
    p = model.params["dense3.weight"]  # cluster one layer: 8-entry codebook
    p.codebook = np.linspace(p.value.min(), p.value.max(), 8).astype(np.float32)
    p.indices = np.abs(p.value[..., None] - p.codebook).argmin(-1)
    onnx_model = build_inference_model(model)
    assert {n.op_type for n in onnx_model.graph.node} <= {"Gemm", "Relu", "Clip", "Cast", "Gather"}
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in onnx_model.graph.initializer}
    for name in ("dense1.weight", "dense2.weight"):
        assert np.array_equal(inits[name], model.params[name].effective())
        assert (inits[name] == 0).mean() > 0.5
    # the clustered weight: its codebook and one byte per index, no float copy of the matrix
    assert "dense3.weight" not in inits
    assert np.array_equal(inits["dense3.weight.codebook"], p.codebook)
    assert inits["dense3.weight.indices"].dtype == np.uint8
    assert np.array_equal(inits["dense3.weight.indices"], p.indices)
    got = session(onnx_model).run(None, {"input": digits.test.x})[0]
    assert np.abs(got - et.predict(model, digits.test.x)).max() <= TOL
    # masked and clustered at once: the mask still applies after the lookup
    p.mask = np.random.default_rng(5).random(p.shape) < 0.5
    got = session(build_inference_model(model)).run(None, {"input": digits.test.x})[0]
    assert np.abs(got - et.predict(model, digits.test.x)).max() <= TOL


def run_steps(model, ts, optimizer, digits, steps=20, batch=32, lr=0.05, seed=0):
    """Feed the train step's outputs back for `steps` steps beside the numpy Trainer on the same batches."""
    sess = session(ts.model)
    names = [o.name for o in sess.get_outputs()]
    trainer = et.Trainer(model, optimizer, progress=False)
    state = dict(ts.initial_state)
    rng = np.random.default_rng(seed)
    loss_diffs = []
    losses = []
    for _ in range(steps):
        idx = rng.choice(len(digits.train.x), batch, replace=False)
        xb, yb = digits.train.x[idx], digits.train.y[idx]
        out = dict(zip(names, sess.run(None, ts.feeds(xb, yb, lr, state))))
        state = ts.next_state(out)
        ref = trainer.train_step(xb, yb)
        loss_diffs.append(abs(float(out["loss"]) - ref))
        losses.append(ref)
    return state, max(loss_diffs), losses


def frozen_masked_residual(seed=3):
    m = et.Sequential([et.Dense(32, "relu", trainable=False),
                       et.Residual([et.Dense(32), et.ReLU6(), et.Dense(32)]), et.Dense(10)], input_shape=64, seed=seed)
    p = m.params["dense2.weight"]
    p.mask = np.random.default_rng(seed).random(p.shape) < 0.4
    p.apply_constraints()
    return m


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_train_step_matches_numpy_for_20_steps(digits, opt):
    model = frozen_masked_residual()
    frozen_before = {k: model.params[k].value.copy() for k in ("dense1.weight", "dense1.bias")}
    kwargs = ({"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3} if opt == "sgd"
              else {"lr": 3e-3, "weight_decay": 1e-3})
    ts = build_train_step(model, opt, **kwargs)
    # frozen parameters are constants, not inputs
    input_names = {i.name for i in ts.model.graph.input}
    assert "dense1.weight" not in input_names and "dense2.weight" in input_names
    assert "dense1.weight" in {t.name for t in ts.model.graph.initializer}
    state, loss_diff, losses = run_steps(model, ts, et.make_optimizer(opt, **kwargs), digits, lr=kwargs["lr"])
    assert losses[-1] < losses[0]  # the run actually trains
    assert loss_diff <= TOL
    for name in ts.trainable:
        assert np.abs(state[name] - model.params[name].value).max() <= TOL, name
        assert not np.array_equal(state[name], ts.initial_state[name]), name
    for k, v in frozen_before.items():
        assert np.array_equal(model.params[k].value, v)
    mask = model.params["dense2.weight"].mask
    assert np.all(state["dense2.weight"][~mask] == 0)
    if opt == "sgd":
        assert set(state) == {*ts.trainable, *(f"{n}.velocity" for n in ts.trainable)}
    else:
        assert state["step"] == 20


def test_train_step_uses_standard_ops_only(digits):
    ts = build_train_step(residual_model(), "adam", loss="mse", lr=1e-3)
    assert all(n.domain in ("", "ai.onnx") for n in ts.model.graph.node)
    assert [o.domain for o in ts.model.opset_import] == [""]
    onnx.checker.check_model(ts.model, full_check=True)


def test_mse_train_step_matches_numpy(digits):
    model = dense_model(seed=5)
    ts = build_train_step(model, "sgd", loss="mse", lr=0.1, momentum=0.5)
    sess = session(ts.model)
    names = [o.name for o in sess.get_outputs()]
    trainer = et.Trainer(model, et.SGD(0.1, momentum=0.5), loss="mse", progress=False)
    state = dict(ts.initial_state)
    for i in range(5):
        xb, yb = digits.train.x[32 * i:32 * (i + 1)], digits.train.y[32 * i:32 * (i + 1)]
        onehot = np.eye(10, dtype=np.float32)[yb]
        out = dict(zip(names, sess.run(None, ts.feeds(xb, onehot, 0.1, state))))
        state = ts.next_state(out)
        assert abs(float(out["loss"]) - trainer.train_step(xb, yb)) <= TOL
    for name in ts.trainable:
        assert np.abs(state[name] - model.params[name].value).max() <= TOL


def test_export_directory_is_atomic(tmp_path, monkeypatch, digits):
    model = dense_model()
    out = tmp_path / "out"
    summary = export_onnx(model, out, train_step=True)
    assert sorted(p.name for p in out.iterdir()) == [".edgetrain-output.json",  # edgetrain's manifest
                                                     "model.onnx", "train_step.onnx", "train_step_state.npz"]
    assert summary["files"] == ["model.onnx", "train_step.onnx", "train_step_state.npz"]
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    import edgetrain.interop.onnx.bundle as bundle

    def boom(*a, **k):
        raise et.ExportError("simulated failure")

    monkeypatch.setattr(bundle, "export_train_step", boom)
    with pytest.raises(et.ExportError):
        export_onnx(dense_model(seed=9), out, train_step=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old output untouched
    with pytest.raises(et.ExportError):
        export_onnx(model, tmp_path / "fresh", train_step=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no half-written dir, no temp left


def test_train_step_updates_codebook_of_clustered_weight(digits):
    model = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], input_shape=64, seed=2)
    p = model.params["dense1.weight"]
    p.codebook = np.linspace(p.value.min(), p.value.max(), 16).astype(np.float32)
    p.indices = np.abs(p.value[..., None] - p.codebook).argmin(-1)
    p.mask = np.random.default_rng(0).random(p.shape) < 0.6
    p.apply_constraints()
    ts = build_train_step(model, "sgd", lr=0.05, momentum=0.9)
    assert ts.initial_state["dense1.weight"].shape == (16,)  # the codebook is what trains
    state, loss_diff, _ = run_steps(model, ts, et.SGD(0.05, momentum=0.9), digits)
    assert loss_diff <= TOL
    assert np.abs(state["dense1.weight"] - p.codebook).max() <= TOL
    assert not np.array_equal(state["dense1.weight"], ts.initial_state["dense1.weight"])

"""ONNX export of the channels-last op kinds (conv2d, conv1d, max_pool, avg_pool, global_avg_pool,
batch_norm, reshape): inference, the standard-op train step and ORT training artifacts, each run
in onnxruntime and compared with the numpy engine."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import edgetrain as et
from edgetrain.errors import UnsupportedOpError
from edgetrain.interop.onnx import build_inference_model, build_train_step, export_ort_artifacts, ort_train
from edgetrain.transforms import fold_batch_norm

TOL = 1e-5


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def scaled_diff(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want))))


def cnn2d(seed=0, bn_trainable=True):
    """Every 2-D geometry: explicit asymmetric pads with stride 2 (a trailing row no window reads),
    overlapping max pool with 'same' padding, depthwise with a multiplier and dilation, grouped
    1x1, average pool whose padded windows hold fewer values, flatten in channels-last order. A conv
    before a batch_norm has no bias (its gradient is rounding noise, which Adam would amplify)."""
    return et.Sequential([
        et.Conv2D(4, 3, padding=[[1, 0], [0, 2]], stride=2, use_bias=False), et.BatchNorm(trainable=bn_trainable),
        et.ReLU(),
        et.MaxPool2D(3, stride=2, padding="same"),
        et.DepthwiseConv2D((2, 3), depth_multiplier=2, dilation=(1, 2), padding="same"),
        et.Conv2D(6, 1, padding="valid", groups=2, activation="relu"),
        et.AvgPool2D(2, stride=1, padding="same"), et.Conv2D(3, (2, 1), stride=(1, 2), padding="valid"),
        et.Flatten(), et.Dense(5),
    ], input_shape=(9, 9, 1), seed=seed)


def cnn1d(seed=0, bn_trainable=True):
    return et.Sequential([
        et.Reshape((20, 1)), et.Conv1D(3, 5, stride=2, activation="relu"), et.MaxPool1D(2, padding="same"),
        et.Conv1D(4, 3, padding=[2, 0], dilation=2, use_bias=False), et.BatchNorm(trainable=bn_trainable),
        et.AvgPool1D(3, stride=2, padding="same"),
        et.Conv1D(4, 2, groups=4, padding="same"), et.GlobalAvgPool(), et.Dense(3),
    ], input_shape=20, seed=seed)


def trailing(seed=0):
    """Windows that leave the last input row and column unread (stride 2, 'valid', odd sizes)
    after trainable layers: ConvTranspose's output_padding (conv and avg_pool input gradients)
    and the cut of the weight gradient to the kernel both take part."""
    return et.Sequential([
        et.Conv2D(4, 3, activation="relu"), et.AvgPool2D(2, stride=2),  # 11 -> 5, row 10 unread
        et.Conv2D(4, 2, stride=2, padding="valid", groups=2),  # 5 -> 2, row 4 unread
        et.DepthwiseConv2D(2, depth_multiplier=2, padding="valid"), et.Flatten(), et.Dense(3),
    ], input_shape=(11, 11, 2), seed=seed)


def randomise_running_stats(model, seed=1):
    rng = np.random.default_rng(seed)
    for name, p in model.params.items():
        if name.endswith(".mean") or name.endswith(".bias"):
            p.value = rng.normal(scale=0.3, size=p.shape).astype(np.float32)
        elif name.endswith(".var") or name.endswith(".scale"):
            p.value = rng.uniform(0.5, 2.0, p.shape).astype(np.float32)
    return model


def batches(shape, n_classes, steps, batch=8, seed=0, ties=True):
    """Inputs on a coarse grid (ties in every max pool window) or normal, with labels."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (steps, batch, *shape)) if ties else rng.normal(size=(steps, batch, *shape))
    return x.astype(np.float32), rng.integers(0, n_classes, (steps, batch))


# -- inference -------------------------------------------------------------------------------------

@pytest.mark.parametrize("make,shape", [(cnn2d, (9, 9, 1)), (cnn1d, (20,))], ids=["2d", "1d"])
def test_inference_matches_numpy(make, shape):
    model = randomise_running_stats(make())
    x, _ = batches(shape, 2, 1, batch=16, ties=False)
    m = build_inference_model(model)
    assert [i.name for i in m.graph.input] == ["input"]
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", *shape]  # the model boundary stays channels last
    ops = {n.op_type for n in m.graph.node}
    assert {"Conv", "Transpose", "MaxPool", "AveragePool"} <= ops
    assert {n.output[0] for n in m.graph.node} >= {n.name for n in model.nodes}
    got = session(m).run(None, {"input": x[0]})[0]
    assert scaled_diff(got, et.predict(model, x[0])) <= TOL
    # the folded graph (no batch_norm left) exports and agrees too
    folded = fold_batch_norm(model)
    assert not any(n.op == "batch_norm" for n in folded.nodes)
    got = session(build_inference_model(folded)).run(None, {"input": x[0]})[0]
    assert scaled_diff(got, et.predict(model, x[0])) <= TOL


def test_same_padding_puts_the_extra_at_the_end_and_flatten_keeps_channels_last():
    model = et.Sequential([et.Conv2D(2, 4, stride=1, padding="same"), et.Flatten()], input_shape=(5, 6, 3), seed=3)
    m = build_inference_model(model)
    (conv,) = [n for n in m.graph.node if n.op_type == "Conv"]
    attrs = {a.name: list(a.ints) for a in conv.attribute}
    assert attrs["pads"] == [1, 1, 2, 2]  # (top, left, bottom, right): 3 rows/cols, the odd one at the end
    x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
    got = session(m).run(None, {"input": x})[0]
    want = et.predict(model, x)
    assert got.shape == want.shape == (2, 5 * 6 * 2)
    assert scaled_diff(got, want) <= TOL


# -- the standard-op train step --------------------------------------------------------------------

def run_steps(model, x, y, optimizer, **kwargs):
    """Feed the train step's state back beside the numpy Trainer on the same batches."""
    ts = build_train_step(model, optimizer, **kwargs)
    assert all(n.domain in ("", "ai.onnx") for n in ts.model.graph.node)
    sess = session(ts.model)
    names = [o.name for o in sess.get_outputs()]
    trainer = et.Trainer(model, et.make_optimizer(optimizer, **kwargs), progress=False)
    state = dict(ts.initial_state)
    losses = []
    for xb, yb in zip(x, y):
        out = dict(zip(names, sess.run(None, ts.feeds(xb, yb, kwargs["lr"], state))))
        state = ts.next_state(out)
        ref = trainer.train_step(xb, yb)
        assert abs(float(out["loss"]) - ref) <= TOL * max(1.0, abs(ref))
        losses.append(ref)
    return ts, state, losses


@pytest.mark.parametrize("make,shape,n_out,opt", [
    (cnn2d, (9, 9, 1), 5, "sgd"), (cnn1d, (20,), 3, "sgd"), (cnn2d, (9, 9, 1), 5, "adam"),
    (trailing, (11, 11, 2), 3, "sgd")],
    ids=["2d-sgd", "1d-sgd", "2d-adam", "unread-rows"])
def test_train_step_matches_numpy(make, shape, n_out, opt):
    model = randomise_running_stats(make(seed=2))
    kwargs = {"lr": 0.05, "momentum": 0.9} if opt == "sgd" else {"lr": 3e-3}
    x, y = batches(shape, n_out, 6)
    before = {k: p.value.copy() for k, p in model.params.items()}
    ts, state, losses = run_steps(model, x, y, opt, **kwargs)
    stats = sorted(k for k in model.params if k.endswith((".mean", ".var")))
    assert set(stats) <= set(state)  # running statistics are fed-back state
    for name in [*ts.trainable, *stats]:
        assert scaled_diff(state[name], model.params[name].value) <= TOL, name
        assert not np.array_equal(state[name], before[name]), name
    assert set(ts.trainable) == {k for k in model.params if k not in stats}


def test_frozen_batch_norm_keeps_its_statistics_and_passes_gradients_through():
    model = randomise_running_stats(cnn2d(seed=4, bn_trainable=False))
    stats = {k: model.params[k].value.copy() for k in ("batch_norm1.mean", "batch_norm1.var")}
    x, y = batches((9, 9, 1), 5, 4)
    ts, state, _ = run_steps(model, x, y, "sgd", lr=0.05)
    assert not set(stats) & set(state) and "batch_norm1.scale" not in ts.trainable
    assert "conv2d1.weight" in ts.trainable  # before the frozen batch_norm: its gradient passes through
    for name in ts.trainable:
        assert scaled_diff(state[name], model.params[name].value) <= TOL, name
    for k, v in stats.items():
        assert np.array_equal(model.params[k].value, v)


def test_max_pool_ties_send_the_gradient_to_the_first_largest_value():
    """Two channels summed by a 1x1 conv of ones tie wherever (1, 0) meets (0, 1): which tie gets
    the gradient changes the weight gradient, so one step shows whether ONNX picks numpy's."""
    model = et.Sequential([et.Conv2D(1, 1, use_bias=False), et.MaxPool2D(2, stride=1), et.Flatten(), et.Dense(2)],
                          input_shape=(3, 3, 2), seed=0)
    model.params["conv2d1.weight"].value = np.ones((1, 1, 2, 1), np.float32)
    rng = np.random.default_rng(5)
    x = np.zeros((1, 4, 3, 3, 2), np.float32)
    x[0, ..., 0] = rng.integers(0, 2, (4, 3, 3))
    x[0, ..., 1] = 1 - x[0, ..., 0]  # every pixel sums to 1: every window is one big tie
    y = np.array([[0, 1, 0, 1]])
    ts, state, _ = run_steps(model, x, y, "sgd", lr=0.5)
    assert scaled_diff(state["conv2d1.weight"], model.params["conv2d1.weight"].value) <= TOL
    # the test can fail: sending the gradient to the last tie instead gives another weight
    w = model.params["conv2d1.weight"].value
    assert not np.allclose(w[..., 0, 0], w[..., 1, 0])


# -- ORT training artifacts ----------------------------------------------------------------------------

@pytest.mark.parametrize("make,shape,n_out", [
    (lambda: cnn2d(seed=6, bn_trainable=False), (9, 9, 1), 5), (lambda: cnn1d(seed=6, bn_trainable=False), (20,), 3),
    (lambda: trailing(seed=6), (11, 11, 2), 3)], ids=["2d", "1d", "unread-rows"])
def test_ort_artifacts_train_a_cnn_as_numpy_does(tmp_path, make, shape, n_out):
    model = randomise_running_stats(make())
    reference = model.copy()
    rng = np.random.default_rng(0)
    x = rng.integers(-2, 3, (32, *shape)).astype(np.float32)
    y = rng.integers(0, n_out, 32)
    export_ort_artifacts(model, tmp_path / "art", optimizer="sgd")
    training = onnx.load(str(tmp_path / "art" / "training_model.onnx"))
    assert "AveragePool" not in {n.op_type for n in training.graph.node}  # spelled as a Conv (ORT 1.19 bug)
    # flat rows of a shaped model are read channels-last row-major, as the numpy engine reads them
    res = ort_train(tmp_path / "art", x.reshape(len(x), -1), y, epochs=2, batch_size=8, lr=0.05, seed=0)
    assert res.steps == 8
    et.fit(reference, (x, y), epochs=2, batch_size=8, optimizer=et.SGD(0.05), seed=0, progress=False)
    for name, p in reference.params.items():
        assert scaled_diff(res.graph.params[name].value, p.value) <= 1e-4, name
        if p.trainable:
            assert not np.array_equal(p.value, model.params[name].value), name


def test_ort_artifacts_train_batch_norm_with_batch_statistics_and_update_its_running_ones(tmp_path):
    """A trainable batch_norm: ORT trains it on batch statistics (its graph outputs them) and
    ort_train updates the running statistics after each step as the numpy engine does."""
    model = randomise_running_stats(cnn2d(seed=7))
    reference = model.copy()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(24, 9, 9, 1)).astype(np.float32)
    y = rng.integers(0, 5, 24)
    manifest = export_ort_artifacts(model, tmp_path / "art", optimizer="sgd")
    (entry,) = manifest["running_statistics"]
    assert entry["layer"] == "batch_norm1" and entry["mean"] not in manifest["frozen"]
    res = ort_train(tmp_path / "art", x, y, epochs=2, batch_size=8, lr=0.05, seed=0, out_dir=tmp_path / "out")
    et.fit(reference, (x, y), epochs=2, batch_size=8, optimizer=et.SGD(0.05), seed=0, progress=False)
    for name, p in reference.params.items():
        assert scaled_diff(res.graph.params[name].value, p.value) <= 1e-4, name
    for stat in ("batch_norm1.mean", "batch_norm1.var"):
        assert not np.array_equal(res.graph.params[stat].value, model.params[stat].value), stat
    # the losses are the inference-mode ones, and the written model uses the running statistics
    assert res.loss_after == pytest.approx(float(et.engine.losses.get_loss("cross_entropy")(
        et.predict(reference, x), y)[0]), rel=1e-4)
    got = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {"input": x})[0]
    assert scaled_diff(got, et.predict(res.graph, x)) <= TOL


def test_pruned_and_clustered_conv_weights_train_in_the_step_and_the_artifacts(tmp_path):
    """Attachments act on a conv weight in edgetrain's layout, before its Transpose: the mask and
    the codebook gather apply to the stored tensor and pruned taps stay exactly zero."""
    model = trailing(seed=8)
    rng = np.random.default_rng(3)
    w = model.params["conv2d1.weight"]
    w.mask = rng.random(w.shape) < 0.5
    w.apply_constraints()
    c = model.params["conv2d2.weight"]
    c.codebook = np.linspace(c.value.min(), c.value.max(), 4).astype(np.float32)
    c.indices = np.abs(c.value[..., None] - c.codebook).argmin(-1)
    c.apply_constraints()
    reference = model.copy()
    x, y = batches((11, 11, 2), 3, 4)
    ts, state, _ = run_steps(model, x, y, "sgd", lr=0.05, momentum=0.9)
    assert ts.initial_state["conv2d2.weight"].shape == (4,)  # the codebook is what trains
    for name in ts.trainable:
        assert scaled_diff(state[name], model.params[name].storage()) <= TOL, name
    assert np.all(state["conv2d1.weight"][~w.mask] == 0)

    export_ort_artifacts(reference, tmp_path / "art", optimizer="sgd")
    xs, ys = x.reshape(-1, 11, 11, 2), y.reshape(-1)
    res = ort_train(tmp_path / "art", xs, ys, epochs=1, batch_size=8, lr=0.05, seed=0)
    et.fit(reference, (xs, ys), epochs=1, batch_size=8, optimizer=et.SGD(0.05), seed=0, progress=False)
    for name, p in reference.params.items():
        assert scaled_diff(res.graph.params[name].effective(), p.effective()) <= 1e-4, name
    assert np.all(res.graph.params["conv2d1.weight"].value[~w.mask] == 0)
    assert len(np.unique(res.graph.params["conv2d2.weight"].effective())) <= 4

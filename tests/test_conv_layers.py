"""Conv layers through the Python API: shapes, parameter layouts, bad input named by layer, training,
and `fold_batch_norm` (same outputs in inference)."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.errors import ConfigError, InvalidModelError
from edgetrain.graph import Graph, Node, Param
from edgetrain.transforms import fold_batch_norm


def shapes(model: et.Graph) -> dict[str, tuple[int, ...]]:
    return {k: v for k, v in model.shapes().items() if k != "input"}


def test_sequential_takes_a_sample_shape_and_keeps_the_int_form():
    model = et.Sequential([
        et.Conv2D(4, 3), et.BatchNorm(), et.ReLU(), et.MaxPool2D(2),
        et.DepthwiseConv2D((3, 3), depth_multiplier=2, stride=2), et.Conv2D(6, 1, padding="valid", groups=2),
        et.AvgPool2D(2, padding="same"), et.GlobalAvgPool(), et.Dense(10),
    ], input_shape=(8, 8, 1))
    s = shapes(model)
    assert model.input_shape == (8, 8, 1)
    assert s["conv2d1"] == (8, 8, 4) and s["max_pool1"] == (4, 4, 4)
    assert s["conv2d2"] == (2, 2, 8) and s["conv2d3"] == (2, 2, 6)
    assert s["avg_pool1"] == (1, 1, 6) and s["global_avg_pool1"] == (6,) and s[model.output_name] == (10,)
    assert model.params["conv2d1.weight"].shape == (3, 3, 1, 4)  # (kh, kw, C_in/groups, C_out)
    assert model.params["conv2d2.weight"].shape == (3, 3, 1, 8)  # depthwise: groups = C_in
    assert model.node("conv2d2").attrs["groups"] == 4
    assert model.params["conv2d3.weight"].shape == (1, 1, 4, 6)
    assert not model.params["batch_norm1.mean"].trainable and model.params["batch_norm1.scale"].trainable
    assert et.Sequential([et.Dense(3)], 5).input_shape == (5,)
    assert et.Sequential([et.Dense(3)], (5,)).input_shape == (5,)


def test_conv1d_pooling_and_reshape():
    model = et.Sequential([
        et.Reshape((16, 1)), et.Conv1D(3, 5, stride=2, activation="relu"), et.MaxPool1D(2, padding="same"),
        et.Conv1D(4, 3, padding=[2, 0], dilation=2), et.AvgPool1D(2, stride=1), et.GlobalAvgPool(), et.Dense(2),
    ], input_shape=16)
    s = shapes(model)
    assert s["reshape1"] == (16, 1) and s["conv1d1"] == (8, 3) and s["max_pool1"] == (4, 3)
    assert s["conv1d2"] == (2, 4) and s["avg_pool1"] == (1, 4) and s["global_avg_pool1"] == (4,)
    assert model.params["conv1d1.weight"].shape == (5, 1, 3)
    assert et.predict(model, np.ones((3, 16), np.float32)).shape == (3, 2)


def test_a_cnn_learns_a_spatial_pattern():
    """Vertical vs horizontal bars on 6x6 images: a tiny CNN gets them all right."""
    rng = np.random.default_rng(0)
    n = 96
    x = rng.normal(scale=0.3, size=(n, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 2, n)
    pos = rng.integers(0, 6, n)
    for i in range(n):
        if y[i]:
            x[i, :, pos[i], 0] += 2.0
        else:
            x[i, pos[i], :, 0] += 2.0
    model = et.Sequential([et.Conv2D(4, 3, activation="relu"), et.BatchNorm(), et.MaxPool2D(2),
                           et.GlobalAvgPool(), et.Dense(2)], input_shape=(6, 6, 1), seed=1)
    et.fit(model, et.Split(x, y), epochs=40, optimizer="adam", lr=0.03, batch_size=16, progress=False)
    assert (et.predict(model, x).argmax(1) == y).mean() > 0.95


@pytest.mark.parametrize("layers,shape,error,words", [
    ([et.Conv2D(2, 5, padding="valid")], (4, 4, 1), InvalidModelError, ["conv2d1", "larger than the padded input"]),
    ([et.Conv2D(2, 3, dilation=3, padding="valid")], (6, 6, 1), InvalidModelError, ["conv2d1", "dilation 3"]),
    ([et.Conv2D(4, 3, groups=3)], (5, 5, 4), ConfigError, ["conv2d1", "groups=3"]),
    ([et.Conv2D(3, 3, groups=2)], (5, 5, 4), InvalidModelError, ["conv2d1", "groups=2", "output channels"]),
    ([et.Conv2D(2, 3)], (16,), ConfigError, ["conv2d1", "(H, W, C)"]),
    ([et.Conv1D(2, 3)], (4, 4, 1), ConfigError, ["conv1d1", "(L, C)"]),
    ([et.MaxPool2D(2)], (1, 6, 2), InvalidModelError, ["max_pool1", "larger than the padded input"]),
    ([et.AvgPool1D(3)], (2, 2), InvalidModelError, ["avg_pool1"]),
    ([et.MaxPool2D(2)], (6,), InvalidModelError, ["max_pool1", "(H, W, C) or (L, C)"]),
    ([et.GlobalAvgPool()], (6,), InvalidModelError, ["global_avg_pool1"]),
    ([et.Reshape((5, 2))], (12,), InvalidModelError, ["reshape1", "cannot reshape"]),
])
def test_bad_layers_name_the_layer(layers, shape, error, words):
    with pytest.raises(error) as e:
        et.Sequential(layers, input_shape=shape)
    for w in words:
        assert w in str(e.value), (w, str(e.value))


@pytest.mark.parametrize("make,words", [
    (lambda: et.Conv2D(0, 3), ["filters"]),
    (lambda: et.Conv2D(2, 3, stride=0), ["stride", ">= 1"]),
    (lambda: et.Conv2D(2, 3, dilation=0), ["dilation"]),
    (lambda: et.Conv2D(2, (3, 3, 3)), ["kernel", "2 integers"]),
    (lambda: et.Conv2D(2, 3, padding=[[1, -1], [0, 0]]), ["negative"]),
    (lambda: et.Conv2D(2, 3, padding="full"), ["padding"]),
    (lambda: et.Conv2D(2, 3, activation="gelu"), ["gelu"]),
    (lambda: et.Conv1D(2, 3, groups=0), ["groups"]),
    (lambda: et.DepthwiseConv2D(3, depth_multiplier=0), ["depth multiplier"]),
    (lambda: et.MaxPool2D(0), ["pool"]),
    (lambda: et.AvgPool1D(2, padding=[1, 1]), ["padding"]),
    (lambda: et.BatchNorm(momentum=1.0), ["momentum"]),
    (lambda: et.BatchNorm(eps=0), ["eps"]),
    (lambda: et.Reshape("abc"), ["shape"]),
    (lambda: et.Sequential([et.Dense(2)], input_shape=(8, 0, 1)), ["input_shape"]),
])
def test_bad_layer_arguments_are_config_errors(make, words):
    with pytest.raises(ConfigError) as e:
        make()
    for w in words:
        assert w in str(e.value)


def _conv_graph(**attrs) -> Graph:
    g = Graph({"input": (5, 5, 2)})
    g.add_param(Param("w", np.zeros((3, 3, 2, 2))))
    g.add_node(Node("c", "conv2d", ["input"], {"weight": "w"}, attrs))
    g.outputs = ["c"]
    return g


@pytest.mark.parametrize("attrs,words", [
    ({"padding": [[-1, 0], [0, 0]]}, ["'c'", "negative"]),
    ({"padding": [[1, 1]]}, ["'c'", "explicit padding"]),
    ({"stride": 0}, ["'c'", "stride"]),
    ({"dilation": [1, 0]}, ["'c'", "dilation"]),
    ({"groups": 3}, ["'c'", "groups=3"]),
    ({"groups": 2}, ["'c'", "expects 4"]),
    ({"padding": "full"}, ["'c'", "padding"]),
    ({"padding": [[3, 0], [0, 0]]}, ["'c'", "not smaller than the window"]),
])
def test_graph_level_attribute_checks(attrs, words):
    with pytest.raises(InvalidModelError) as e:
        _conv_graph(**attrs).validate()
    for w in words:
        assert w in str(e.value)


def test_batch_norm_channel_mismatch_names_the_node():
    g = Graph({"input": (4, 3)})
    for r in ("scale", "bias", "mean", "var"):
        g.add_param(Param(f"bn.{r}", np.ones(4)))
    g.add_node(Node("bn", "batch_norm", ["input"], {r: f"bn.{r}" for r in ("scale", "bias", "mean", "var")}))
    g.outputs = ["bn"]
    with pytest.raises(InvalidModelError, match="batch_norm 'bn'.*3 channels"):
        g.validate()


def test_set_trainable_never_trains_running_statistics():
    model = et.Sequential([et.Conv2D(2, 3), et.BatchNorm(), et.GlobalAvgPool(), et.Dense(2)], input_shape=(4, 4, 1))
    chosen = et.set_trainable(model, "all")
    assert "batch_norm1.scale" in chosen and "batch_norm1.mean" not in chosen
    assert not model.params["batch_norm1.var"].trainable


# -- fold_batch_norm -----------------------------------------------------------------------------------

def _trained(layers, shape, seed=0):
    """A model trained a few steps (moves the running statistics), with random scale and bias."""
    rng = np.random.default_rng(seed)
    model = et.Sequential(layers, input_shape=shape, seed=seed)
    for n in model.nodes:
        if n.op == "batch_norm":
            for r in ("scale", "bias"):
                model.params[n.params[r]].value = rng.normal(size=model.params[n.params[r]].shape).astype(np.float32)
    x = rng.normal(size=(48, *shape)).astype(np.float32) * 2 + 0.5
    y = rng.integers(0, 3, 48)
    et.fit(model, et.Split(x, y), epochs=3, optimizer="sgd", lr=0.01, batch_size=16, progress=False)
    return model, x


@pytest.mark.parametrize("layers,shape", [
    ([et.Conv2D(4, 3, stride=2), et.BatchNorm(), et.ReLU(), et.DepthwiseConv2D(3, 2, use_bias=False),
      et.BatchNorm(momentum=0.5, eps=1e-3), et.GlobalAvgPool(), et.Dense(3)], (7, 7, 2)),
    ([et.Conv1D(3, 3), et.BatchNorm(), et.GlobalAvgPool(), et.Dense(5), et.BatchNorm(), et.Dense(3)], (9, 2)),
    ([et.Dense(6), et.BatchNorm()], (4,)),
])
def test_folded_graph_gives_the_same_outputs_in_inference(layers, shape):
    model, x = _trained(layers, shape)
    bn = [n for n in model.nodes if n.op == "batch_norm"]
    assert not np.allclose(model.params[bn[0].params["mean"]].value, 0)  # training moved the statistics
    folded = fold_batch_norm(model)
    assert not any(n.op == "batch_norm" for n in folded.nodes)
    assert not any(k.startswith("batch_norm") for k in folded.params)
    np.testing.assert_allclose(et.predict(folded, x), et.predict(model, x), rtol=1e-4, atol=1e-5)
    assert any(n.op == "batch_norm" for n in model.nodes)  # the original is untouched


def test_batch_norm_that_cannot_fold_stays():
    model = et.Sequential([et.Conv2D(2, 3), et.ReLU(), et.BatchNorm(), et.GlobalAvgPool(), et.Dense(2)],
                          input_shape=(4, 4, 1))
    folded = fold_batch_norm(model)
    assert [n.op for n in folded.nodes] == [n.op for n in model.nodes]

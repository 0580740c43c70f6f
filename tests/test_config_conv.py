"""TOML configs of CNNs: [model] input_shape, the conv layer types, and their refusals.

Each bad option is refused by `parse_config` or by the model build with a one-line
`ConfigError` naming the layer; flat rows of the wrong size for `input_shape` are a `DataError`.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

from edgetrain.config import LAYER_TYPES, REQUIRED_OPTIONS, parse_config
from edgetrain.engine.executor import check_input, predict
from edgetrain.errors import ConfigError, DataError, EdgetrainError
from edgetrain.layers import Sequential
from edgetrain.train_run import train_from_config

BASE = {"name": "cnn", "data": {"source": "digits"}, "train": {"epochs": 1},
        "model": {"input_shape": [8, 8, 1], "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "relu"},
            {"type": "max_pool", "pool": 2},
            {"type": "depthwise_conv2d", "kernel": [3, 3], "depth_multiplier": 2, "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "conv2d", "filters": 8, "kernel": 1, "groups": 2},
            {"type": "avg_pool", "pool": [2, 2], "stride": 1, "padding": "same"},
            {"type": "global_avg_pool"},
            {"type": "dense", "units": 10}]}}


def with_layers(*layers, input_shape=(8, 8, 1)):
    doc = copy.deepcopy(BASE)
    doc["model"] = {"input_shape": list(input_shape), "layers": list(layers)}
    return doc


def build(doc):
    cfg = parse_config(doc)
    return Sequential(cfg.layers, cfg.input_shape, seed=0)


def test_every_layer_type_has_a_schema_and_its_required_options_exist():
    from edgetrain import config
    for kind, required in REQUIRED_OPTIONS.items():
        assert kind in LAYER_TYPES
        assert set(required) <= set(config._LAYER[kind]), kind


def test_conv_config_builds_the_layers_it_names():
    g = build(BASE)
    ops = [n.op for n in g.nodes]
    assert ops == ["conv2d", "relu", "max_pool", "conv2d", "relu", "batch_norm", "conv2d", "avg_pool",
                   "global_avg_pool", "dense"]
    shapes = g.shapes()
    dw, pw = g.nodes[3], g.nodes[6]
    assert g.params[dw.params["weight"]].value.shape == (3, 3, 1, 8)  # depthwise: C_in 4 x multiplier 2
    assert dw.attrs["groups"] == 4 and pw.attrs["groups"] == 2
    assert shapes[g.nodes[2].name] == (4, 4, 4) and shapes[g.output_name] == (10,)


def test_conv1d_config_on_windows():
    g = build(with_layers({"type": "conv1d", "filters": 6, "kernel": 5, "stride": 2, "padding": "same",
                           "activation": "relu"},
                          {"type": "max_pool", "pool": 2}, {"type": "flatten"}, {"type": "dense", "units": 3},
                          input_shape=(32, 3)))
    assert g.shapes()[g.nodes[0].name] == (16, 6) and g.shapes()[g.nodes[2].name] == (8, 6)


def test_reshape_layer_reads_flat_rows_as_images():
    g = build(with_layers({"type": "reshape", "shape": [8, 8, 1]}, {"type": "conv2d", "filters": 2, "kernel": 3},
                          {"type": "global_avg_pool"}, {"type": "dense", "units": 10}, input_shape=(64,)))
    assert g.shapes()[g.nodes[0].name] == (8, 8, 1)


@pytest.mark.parametrize("layer, words", [
    ({"type": "conv2d", "kernel": 3}, "needs 'filters'"),
    ({"type": "conv2d", "filters": 4}, "needs 'kernel'"),
    ({"type": "depthwise_conv2d"}, "needs 'kernel'"),
    ({"type": "reshape"}, "needs 'shape'"),
    ({"type": "conv2d", "filters": 4, "kernel": 0}, "kernel must be >= 1"),
    ({"type": "conv2d", "filters": 4, "kernel": "3"}, "kernel must be an integer or 2 integers"),
    ({"type": "conv2d", "filters": 4, "kernel": [3, 3, 3]}, "kernel must be an integer or 2 integers"),
    ({"type": "conv2d", "filters": 4, "kernel": 3, "padding": [[-1, 0], [0, 0]]}, "must not be negative"),
    ({"type": "conv2d", "filters": 4, "kernel": 3, "padding": "full"}, "padding must be 'same', 'valid'"),
    ({"type": "conv2d", "filters": 0, "kernel": 3}, "filters must be in"),
    ({"type": "conv2d", "filters": 4, "kernel": 3, "groups": 0}, "groups must be"),
    ({"type": "conv2d", "filters": 4, "kernel": 3, "activation": "gelu"}, "unknown activation"),
    ({"type": "conv2d", "filters": 4, "kernel": 3, "units": 4}, "unknown option"),
    ({"type": "max_pool", "pool": 0}, "pool must be >= 1"),
    ({"type": "max_pool", "padding": [1, 1]}, "padding must be a string"),
    ({"type": "batch_norm", "momentum": 1}, "momentum must be in [0, 1)"),
    ({"type": "reshape", "shape": [8, -1, -1]}, "shape must be a list of positive sizes"),
])
def test_bad_layer_options_are_refused_naming_the_layer(layer, words):
    with pytest.raises(ConfigError) as e:
        parse_config(with_layers(layer))
    assert words in e.value.message and "model.layers[0]" in e.value.message, e.value.message
    assert e.value.hint and "\n" not in e.value.message


@pytest.mark.parametrize("value, words", [
    ([], "1 to 3 positive whole sizes"), ([8, 8, 1, 1], "1 to 3"), ([8, 0, 1], "1 to 3"), ([8, True], "1 to 3"),
    ([8.0, 8], "1 to 3"), ("8x8", "must be a list"), ([10**6, 10**6, 10**6], "over the limit MAX_UNITS"),
    ([10**300, 2], "over the limit MAX_UNITS"),
])
def test_bad_input_shapes_are_refused(value, words):
    doc = copy.deepcopy(BASE)
    doc["model"]["input_shape"] = value
    with pytest.raises(ConfigError) as e:
        parse_config(doc)
    assert words in e.value.message and "[model] input_shape" in e.value.message, e.value.message


@pytest.mark.parametrize("layers, input_shape, words", [
    ([{"type": "conv2d", "filters": 4, "kernel": 9, "padding": "valid"}], (8, 8, 1), "larger than the padded input"),
    ([{"type": "max_pool", "pool": 2}], (64, 1, 1), "larger than the padded input"),  # a pool over a 1-wide axis
    ([{"type": "conv2d", "filters": 4, "kernel": 3, "groups": 3}], (8, 8, 1), "does not divide the 1 input channels"),
    ([{"type": "conv1d", "filters": 4, "kernel": 3}], (8, 8, 1), "needs samples of shape (L, C)"),
    ([{"type": "conv2d", "filters": 4, "kernel": 3}], (64,), "needs samples of shape (H, W, C)"),
    ([{"type": "conv2d", "filters": 4, "kernel": 3, "padding": [[3, 0], [0, 0]]}], (8, 8, 1), "padding"),
])
def test_layers_that_do_not_fit_their_input_are_refused_at_build(layers, input_shape, words):
    with pytest.raises(EdgetrainError) as e:
        build(with_layers(*layers, {"type": "flatten"}, {"type": "dense", "units": 10}, input_shape=input_shape))
    assert words in e.value.message, e.value.message
    assert e.value.hint


def test_flat_rows_are_read_row_major_channels_last():
    g = build(with_layers({"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "flatten"},
                          {"type": "dense", "units": 3}, input_shape=(4, 5, 2)))
    x = np.random.default_rng(0).normal(size=(6, 4, 5, 2)).astype(np.float32)
    flat = x.reshape(6, -1)
    assert check_input(g, flat).shape == (6, 4, 5, 2)
    np.testing.assert_array_equal(predict(g, flat), predict(g, x))


def test_flat_rows_of_the_wrong_size_are_refused():
    g = build(with_layers({"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "flatten"},
                          {"type": "dense", "units": 3}, input_shape=(8, 8, 2)))
    with pytest.raises(DataError, match=r"samples of shape \(64,\) but the model expects \(8, 8, 2\) "
                                        r"\(or flat rows of 128 values\)"):
        predict(g, np.zeros((3, 64), np.float32))


def test_a_flat_data_set_trains_a_cnn_from_toml():
    """digits rows are 8x8 images in row-major order, so input_shape = [8, 8, 1] reads them as images."""
    doc = copy.deepcopy(BASE)
    doc["train"] = {"epochs": 8}
    r = train_from_config(parse_config(doc), seed=0)
    assert r.graph.input_shape == (8, 8, 1)
    assert r.test_accuracy > 0.6  # a tiny CNN after 8 epochs: far above the 0.1 of guessing


def test_input_shape_defaults_to_the_data_samples(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 16, 2)).astype(np.float32)
    y = (x[:, :, 0].mean(axis=1) > 0).astype(np.int64)
    np.savez(tmp_path / "w.npz", x=x, y=y)
    doc = with_layers({"type": "conv1d", "filters": 4, "kernel": 3}, {"type": "global_avg_pool"},
                      {"type": "dense", "units": 2})
    del doc["model"]["input_shape"]
    doc["data"] = {"source": str(tmp_path / "w.npz"), "test_size": 0.2, "val_size": 0.0}
    r = train_from_config(parse_config(doc), seed=0)
    assert r.graph.input_shape == (16, 2)


def test_digits_cnn_example_beats_the_mlp_example_on_every_seed():
    """examples/digits_cnn.toml against examples/digits_mlp.toml (64-32-10), same split, seeds 0-2."""
    from pathlib import Path

    from edgetrain.config import load_config

    examples = Path(__file__).resolve().parents[1] / "examples"
    cnn, mlp = load_config(examples / "digits_cnn.toml"), load_config(examples / "digits_mlp.toml")
    assert cnn.data == mlp.data and cnn.input_shape == (8, 8, 1)
    for seed in range(3):
        a_cnn = train_from_config(cnn, seed=seed).test_accuracy
        a_mlp = train_from_config(mlp, seed=seed).test_accuracy
        assert a_cnn > a_mlp, (seed, a_cnn, a_mlp)

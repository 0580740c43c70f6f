"""Sorting hidden units by fan-in before a grouped export (edgetrain/transforms/reorder.py).

The sorted model must compute the same function (float to rounding, int8 bit for bit), give every
eligible masked layer rows in non-decreasing length, carry masks, codebooks and per-channel
quantization parameters along, and leave alone what a permutation would break: graph outputs,
residual adds, motif layers, shared parameters.
"""
from __future__ import annotations

import numpy as np

import edgetrain as et
from edgetrain.transforms.reorder import sort_units_by_fan_in
from edgetrain.graph import QParams
from edgetrain.layers import GraphBuilder
from edgetrain.quantize import int8_reference, quantize_model


def masked_mlp(seed: int = 0, widths: tuple[int, ...] = (40, 30)) -> et.Graph:
    layers = [et.Dense(w, "relu") for w in widths] + [et.Dense(5)]
    g = et.Sequential(layers, 12, seed=seed)
    rng = np.random.default_rng(seed)
    for n in g.nodes:
        if n.op == "dense":
            w = g.params[n.params["weight"]]
            w.mask = rng.random(w.shape) < 0.3
            w.value = (w.value * w.mask).astype(np.float32)
            g.params[n.params["bias"]].value = rng.standard_normal(w.shape[1]).astype(np.float32)
    return g


def weight(g: et.Graph, layer: str) -> et.Param:
    return g.params[g.node(layer).params["weight"]]


def inputs(n: int = 64) -> np.ndarray:
    return np.random.default_rng(7).standard_normal((n, 12)).astype(np.float32)


def test_hidden_rows_sorted_and_function_unchanged() -> None:
    g = masked_mlp()
    s = sort_units_by_fan_in(g)
    for layer in ("dense1", "dense2"):
        fan_in = weight(s, layer).mask.sum(axis=0)
        assert np.all(np.diff(fan_in) >= 0), layer
    # dense1's units are a permutation of the original ones: nothing lost or invented.
    assert sorted(map(tuple, weight(s, "dense1").value.T.tolist())) == \
        sorted(map(tuple, weight(g, "dense1").value.T.tolist()))
    assert not np.array_equal(weight(s, "dense1").mask, weight(g, "dense1").mask)
    np.testing.assert_array_equal(weight(s, "dense3").mask.sum(axis=0), weight(g, "dense3").mask.sum(axis=0))
    np.testing.assert_allclose(et.predict(s, inputs()), et.predict(g, inputs()), rtol=1e-6, atol=1e-6)
    # The original graph is not touched.
    assert not np.all(np.diff(weight(g, "dense1").mask.sum(axis=0)) >= 0)


def test_int8_outputs_are_bit_identical() -> None:
    g = masked_mlp(seed=3)
    x = inputs()
    q_orig = quantize_model(g, x, per_channel=True)
    q_sorted = quantize_model(sort_units_by_fan_in(g), x, per_channel=True)
    np.testing.assert_array_equal(int8_reference(q_sorted, x), int8_reference(q_orig, x))


def test_codebook_and_per_channel_qparams_follow_the_units() -> None:
    g = masked_mlp(seed=1)
    w = weight(g, "dense1")
    rng = np.random.default_rng(0)
    w.codebook = np.array([-0.5, 0.25, 0.75], np.float32)
    w.indices = rng.integers(0, 3, w.shape)
    w.qparams = QParams(scale=np.arange(1, w.shape[1] + 1) / 100.0, zero_point=np.zeros(w.shape[1]), axis=1)
    s = sort_units_by_fan_in(g)
    ws = weight(s, "dense1")
    perm = np.argsort(w.mask.sum(axis=0), kind="stable")
    np.testing.assert_array_equal(ws.effective(), w.effective()[:, perm])
    np.testing.assert_array_equal(ws.qparams.scale, w.qparams.scale[perm])
    perm2 = np.argsort(weight(g, "dense2").mask.sum(axis=0), kind="stable")  # dense2's own units
    np.testing.assert_array_equal(weight(s, "dense2").effective(), weight(g, "dense2").effective()[perm][:, perm2])
    np.testing.assert_allclose(et.predict(s, inputs()), et.predict(g, inputs()), rtol=1e-6, atol=1e-6)


def untouched(g: et.Graph) -> bool:
    s = sort_units_by_fan_in(g)
    return all(np.array_equal(s.params[k].value, p.value) for k, p in g.params.items())


def test_residual_outputs_and_motif_layers_are_left_alone() -> None:
    # dense1 feeds a residual add: its order must match the other operand's.
    b = GraphBuilder(12, seed=0)
    h = b.dense(b.input, 12, "relu")
    r = b.add(h, b.dense(h, 12))
    g = b.build(b.dense(r, 4))
    for n in g.nodes:
        if n.op == "dense":
            w = g.params[n.params["weight"]]
            w.mask = np.random.default_rng(1).random(w.shape) < 0.4
    assert untouched(g)
    # A masked output layer keeps its order (the caller reads the outputs by position).
    g = et.Sequential([et.Dense(6)], 12, seed=0)
    weight(g, "dense1").mask = np.random.default_rng(2).random((12, 6)) < 0.5
    assert untouched(g)
    # A motif (block-shared) layer on either side keeps its blocks.
    g = masked_mlp(seed=4, widths=(40,))
    weight(g, "dense2").meta["block_shared"] = 2
    assert untouched(g)
    weight(g, "dense2").meta.clear()
    weight(g, "dense1").meta["block_shared"] = 2
    assert untouched(g)

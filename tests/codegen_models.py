"""Small trained models shared by the quantization and code generation tests (cached per run)."""
from __future__ import annotations

import functools

import numpy as np

import edgetrain as et
from edgetrain.layers import GraphBuilder


@functools.lru_cache(maxsize=None)
def digits() -> et.Dataset:
    return et.load_data("digits")


@functools.lru_cache(maxsize=None)
def mlp_64_32_10() -> et.Graph:
    """The issue's digits MLP, 64-32-10 with a fused ReLU, trained briefly."""
    d = digits()
    g = et.Sequential([et.Dense(32, "relu"), et.Dense(10)], input_shape=d.n_features, seed=0, name="mlp")
    et.fit(g, d, epochs=15, optimizer="adam", lr=3e-3, seed=0)
    g.meta["preprocess"] = d.preprocess()
    return g


@functools.lru_cache(maxsize=None)
def residual_model() -> et.Graph:
    """Exercises every lowering case: a stand-alone ReLU (its input has two consumers), fused ReLU
    into dense, residual add with a fused ReLU6, an identity alias, and a final softmax."""
    d = digits()
    b = GraphBuilder(d.n_features, seed=1, name="resnet")
    h = b.dense(b.input, 32)  # read by the relu and by the add: the relu cannot be fused
    r = b.node("relu", [h])
    t = b.dense(r, 32, activation="relu")
    t = b.dense(t, 32)
    s = b.add(h, t)
    s = b.node("relu6", [s])  # fused into the add
    s = b.node("identity", [s])
    o = b.node("softmax", [b.dense(s, 10)])
    g = b.build(o)
    et.fit(g, d, epochs=12, optimizer="adam", lr=3e-3, seed=0)
    g.meta["preprocess"] = d.preprocess()
    return g


def float_accuracy(g: et.Graph, x: np.ndarray, y: np.ndarray) -> float:
    return float((et.predict(g, x).argmax(1) == y).mean())

"""CNN models the C conv export tests share (float32 and int8): every one has random, non-zero
biases (and batch_norm statistics), so a dropped bias, a wrong weight layout or a wrong pad shows
in the outputs."""
from __future__ import annotations

import functools

import numpy as np

import edgetrain as et
from edgetrain.layers import (AvgPool1D, AvgPool2D, BatchNorm, Conv1D, Conv2D, DepthwiseConv2D, Flatten,
                              GlobalAvgPool, MaxPool2D, ReLU, Reshape)

from codegen_models import digits


def randomize(g: et.Graph, seed: int) -> et.Graph:
    """Non-zero biases and batch_norm statistics (weights keep their He initialisation)."""
    rng = np.random.default_rng(seed)
    for name, p in g.params.items():
        if name.endswith(".bias"):
            p.value = rng.normal(0, 0.3, p.value.shape).astype(np.float32)
        elif name.endswith(".scale"):
            p.value = rng.uniform(0.5, 1.5, p.value.shape).astype(np.float32)
        elif name.endswith(".mean"):
            p.value = rng.normal(0, 0.5, p.value.shape).astype(np.float32)
        elif name.endswith(".var"):
            p.value = rng.uniform(0.5, 2.0, p.value.shape).astype(np.float32)
    return g


@functools.lru_cache(maxsize=None)
def digits_cnn() -> et.Graph:
    """conv 3x3 16 same relu -> max_pool 2 -> conv 3x3 32 same relu -> flatten -> dense 10, on
    the flat digits rows reshaped to 8x8x1 (a view), trained briefly."""
    d = digits()
    g = et.Sequential([Reshape((8, 8, 1)), Conv2D(16, 3, activation="relu"), MaxPool2D(2),
                       Conv2D(32, 3, activation="relu"), Flatten(), et.Dense(10)],
                      input_shape=d.n_features, seed=0, name="digits_cnn")
    et.fit(g, d, epochs=3, optimizer="adam", lr=3e-3, seed=0)
    g.meta["preprocess"] = d.preprocess()
    return g


@functools.lru_cache(maxsize=None)
def depthwise_cnn() -> et.Graph:
    """8x8x1 -> conv 3x3 16 -> depthwise 3x3 -> conv 1x1 32 -> global_avg_pool -> dense 10."""
    g = et.Sequential([Conv2D(16, 3, activation="relu"), DepthwiseConv2D(3, activation="relu6"),
                       Conv2D(32, 1, activation="relu"), GlobalAvgPool(), et.Dense(10)],
                      input_shape=(8, 8, 1), seed=1, name="dw_cnn")
    return randomize(g, 1)


@functools.lru_cache(maxsize=None)
def conv1d_model() -> et.Graph:
    """(32, 3) -> conv1d k5 stride 2 same -> avg_pool 2 -> dense 4."""
    g = et.Sequential([Conv1D(8, 5, stride=2, padding="same", activation="relu"), AvgPool1D(2), Flatten(),
                       et.Dense(4)], input_shape=(32, 3), seed=2, name="conv1d")
    return randomize(g, 2)


@functools.lru_cache(maxsize=None)
def batch_norm_model() -> et.Graph:
    """A conv without bias and one with, each followed by a batch_norm (both folded), a 1-D tail
    with a global pool."""
    g = et.Sequential([Conv2D(8, 3, use_bias=False), BatchNorm(), ReLU(), Conv2D(6, 3, padding="valid"),
                       BatchNorm(), ReLU(), Reshape((36, 6)), Conv1D(5, 3, dilation=2), BatchNorm(),
                       GlobalAvgPool(), et.Dense(3)], input_shape=(8, 8, 1), seed=3, name="bn_cnn")
    return randomize(g, 3)


@functools.lru_cache(maxsize=None)
def geometry_zoo() -> et.Graph:
    """valid, explicit asymmetric padding with mixed strides, dilation 2 with groups 2, a depthwise
    conv with multiplier 2 at stride 2, 1x1 convs at stride 1 (one dense call) and 2 (per pixel),
    average and max pools with "same" padding (border windows count fewer values)."""
    g = et.Sequential([
        Conv2D(8, 3, padding="valid", activation="relu6"),                       # 11x9x4 -> 9x7x8
        Conv2D(6, 3, stride=(2, 1), padding=[[0, 2], [1, 0]]),                   # -> 5x6x6
        Conv2D(8, 3, padding="same", dilation=2, groups=2, activation="relu"),   # -> 5x6x8
        DepthwiseConv2D(3, depth_multiplier=2, stride=2, padding="same"),        # -> 3x3x16
        Conv2D(12, 1, activation="relu"),                                        # 1x1 stride 1
        AvgPool2D(3, stride=2, padding="same"),                                  # -> 2x2x12
        Conv2D(10, 1, stride=2, use_bias=False),                                 # 1x1 stride 2 -> 1x1x10
        MaxPool2D(2, stride=1, padding="same", name="pool_same"),               # -> 1x1x10
        Flatten(), et.Dense(5)], input_shape=(11, 9, 4), seed=4, name="zoo")
    return randomize(g, 4)


def samples(g: et.Graph, n: int, seed: int = 0) -> np.ndarray:
    if g.name == "digits_cnn":
        return digits().test.x[:n]
    if g.name in ("dw_cnn", "bn_cnn"):
        return digits().test.x[:n].reshape(n, 8, 8, 1)
    return np.random.default_rng(seed).normal(size=(n, *g.input_shape)).astype(np.float32)


MODELS = {"digits_cnn": digits_cnn, "dw_cnn": depthwise_cnn, "conv1d": conv1d_model, "bn_cnn": batch_norm_model,
          "zoo": geometry_zoo}

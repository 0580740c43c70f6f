"""On-device fine-tuning of a sparse (masked) layer updates only its non-zeros and keeps the
pattern, matching the numpy engine, which re-imposes masks after every step."""
from __future__ import annotations

import numpy as np
import pytest

from edgetrain.device.finetune import finetune_on_device

from test_finetune import OPTIMIZERS, batches, check_parity, mlp


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_masked_layers_keep_their_pattern_on_the_device(host_cc, kind):
    g = mlp((64, 32, 10))
    rng = np.random.default_rng(7)
    for name in ("dense1.weight", "dense2.weight"):
        p = g.params[name]
        p.mask = rng.random(p.shape) < 0.2
        p.apply_constraints()
    xs, ys = batches(4)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="all", batch=4, sanitize=True,
                             **OPTIMIZERS[kind])
    check_parity(rep, xs, ys, f"host {kind}, 20% dense masks")
    for name in ("dense1.weight", "dense2.weight"):
        mask = g.params[name].mask
        trained = rep.graph.params[name].value
        assert np.all(trained[~mask] == 0), name  # the pattern survived 20 steps with momentum/Adam
        assert np.count_nonzero(trained[mask] != g.params[name].value[mask]) > 0.9 * mask.sum()

"""On-device training built on the one C lowering and the engine's one backward walk: residual
blocks in the trainable part (gradient accumulation at fan-out), every activation kind in the
head, frozen bodies with sparse storage and residual adds, and shared (clustered, motif) weights
whose codebook slots alone are stored and trained."""
from __future__ import annotations

import numpy as np
import pytest
from test_finetune import OPTIMIZERS, batches, check_parity

from edgetrain.errors import UnsupportedOpError
from edgetrain.export.c import prepare_model
from edgetrain.export.c.train_plan import prepare_training
from edgetrain.export.c.train_program import DeviceTrainConfig
from edgetrain.device.finetune import finetune_on_device
from edgetrain.layers import Dense, GraphBuilder, HardSwish, LeakyReLU, ReLU, Sequential, Sigmoid, Tanh, set_trainable


def residual_mlp(seed: int = 0):
    b = GraphBuilder((64,), seed=seed)
    h = b.dense(b.input, 24, activation="relu")
    h = b.residual(h, [Dense(24), ReLU(), Dense(24)])
    h = b.dense(h, 16, activation="relu")
    g = b.build(b.dense(h, 10))
    rng = np.random.default_rng(seed + 1)
    for name, p in g.params.items():
        if name.endswith(".bias"):
            p.value = rng.uniform(-0.1, 0.1, p.shape).astype(np.float32)
    return g


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_residual_mlp_fine_tunes_on_host_and_matches_numpy(host_cc, kind):
    """The skip input of the residual block gets the sum of both branches' gradients."""
    g = residual_mlp()
    xs, ys = batches(4)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="all", batch=4, sanitize=True, **OPTIMIZERS[kind])
    check_parity(rep, xs, ys, f"host residual {kind}")
    code = rep.program.ops
    assert any("et_grad_accumulate_f32" in op.train for op in code if op.phase == "backward")


def test_residual_mlp_fine_tunes_on_qemu_and_matches_numpy(arm_cc, qemu):
    g = residual_mlp()
    xs, ys = batches(1)
    rep = finetune_on_device(g, "stm32f405", batches=(xs, ys), trainable="all", batch=1, **OPTIMIZERS["sgd"])
    check_parity(rep, xs, ys, "stm32f405 residual sgd")
    assert rep.runner.startswith("QEMU")


@pytest.mark.parametrize("act", [Sigmoid(), Tanh(), LeakyReLU(0.2), HardSwish()], ids=lambda a: a.kind)
def test_every_activation_trains_in_the_head(host_cc, act):
    g = Sequential([Dense(32), act, Dense(10)], 64, seed=3)
    xs, ys = batches(2)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="all", batch=2, **OPTIMIZERS["sgd"])
    check_parity(rep, xs, ys, f"host {act.kind} head")


@pytest.mark.parametrize("body", ["f32", "int8"])
def test_frozen_body_with_residual_add(host_cc, body):
    """The float body used to refuse add; both bodies now lower like the inference program."""
    g = residual_mlp()
    xs, ys = batches(2)
    rng = np.random.default_rng(4)
    calib = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="last:1", batch=2, body=body, calib_x=calib,
                             **OPTIMIZERS["sgd"])
    assert any(op.phase == "body" and "et_add_" in op.train for op in rep.program.ops)
    if body == "f32":
        check_parity(rep, xs, ys, "host f32 body with add")
    else:
        assert rep.diverged_steps == 0


def set_like(seed: int = 0, density: float = 0.05):
    """64-256-256-10 with SET-like random masks on the hidden layers."""
    g = Sequential([Dense(256, "relu"), Dense(256, "relu"), Dense(10)], 64, seed=seed)
    rng = np.random.default_rng(seed)
    for name in ("dense1.weight", "dense2.weight"):
        p = g.params[name]
        p.mask = rng.random(p.shape) < density
        p.value *= p.mask
    return g


def test_sparse_body_keeps_its_inference_storage():
    """A SET model's fine-tuning firmware stores the frozen body as the inference export does."""
    g = set_like()
    set_trainable(g, "last:1")
    tp, report, _ = prepare_training(g, "stm32f405", DeviceTrainConfig(batch=1))
    program, inference, _ = prepare_model(g, "stm32f405", "f32")
    body_kernels = {k for op in tp.ops if op.phase == "body" for k in op.kernels}
    infer_kernels = {k for c in program.calls[:-1] for k in c.kernels}
    assert body_kernels == infer_kernels and any(k.startswith("et_sparse_") for k in body_kernels)
    body_bytes = sum(a.nbytes for a in tp.arrays if a.layer in ("dense1", "dense2"))
    infer_bytes = sum(a.nbytes for a in program.arrays if a.layer in ("dense1", "dense2"))
    assert body_bytes == infer_bytes
    dense_body = (64 * 256 + 256 * 256) * 4
    assert body_bytes < dense_body / 5


def test_sparse_body_fine_tunes_and_matches_numpy(host_cc):
    g = set_like()
    xs, ys = batches(2)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="last:1", batch=2, sanitize=True,
                             **OPTIMIZERS["adam"])
    check_parity(rep, xs, ys, "host SET body, adam")


def motif_mlp(seed: int = 0):
    from edgetrain.techniques.motif import apply_motif

    g = Sequential([Dense(32, "relu"), Dense(10)], 64, seed=seed, name="motif")
    apply_motif(g, m=4, eps=1.0, seed=seed)
    set_trainable(g, "all")
    return g


def clustered_mlp(seed: int = 0, clusters: int = 8):
    g = Sequential([Dense(16, "relu"), Dense(10)], 64, seed=seed)
    p = g.params["dense1.weight"]
    flat = np.sort(p.value.ravel())
    p.codebook = flat[np.linspace(0, flat.size - 1, clusters).astype(int)].astype(np.float32)
    p.indices = np.abs(p.value[..., None] - p.codebook).argmin(-1)
    p.apply_constraints()
    set_trainable(g, "all")
    return g


def check_shared(rep) -> None:
    """Only the codebook slots are stored, trained and sent back; the trained model still shares."""
    shared = [q for q in rep.program.trainable if q.shared]
    assert shared
    for q in shared:
        p = rep.graph.params[q.name]
        assert q.size == p.codebook.size < p.size
        np.testing.assert_array_equal(p.codebook, rep.weights[q.name])
        want = p.codebook[p.indices] * (p.mask if p.mask is not None else 1)
        np.testing.assert_array_equal(p.value, want.astype(np.float32))
    assert rep.program.payload_bytes == 4 * sum(q.size for q in rep.program.trainable)
    # No expanded float copy of a shared weight anywhere: its indices are uint16 const data.
    sizes = {a.values.size for a in rep.program.arrays if a.values.dtype == np.float32}
    assert not any(rep.graph.params[q.name].size in sizes for q in shared)
    assert any(a.values.dtype == np.uint16 for a in rep.program.arrays)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_motif_model_fine_tunes_with_shared_weights_on_host_asan(host_cc, kind):
    """The gradient is summed per codebook slot and only the slot values train; the device matches
    the numpy fine-tuning reference (which updates Param.codebook the same way)."""
    g = motif_mlp()
    xs, ys = batches(4)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="all", batch=4, sanitize=True, **OPTIMIZERS[kind])
    check_parity(rep, xs, ys, f"host motif {kind}")
    check_shared(rep)
    assert sum(q.size for q in rep.program.trainable) == sum(
        g.params[n].codebook.size if g.params[n].codebook is not None else g.params[n].size for n in g.params)


def test_motif_model_fine_tunes_with_shared_weights_on_qemu(arm_cc, qemu):
    g = motif_mlp(1)
    xs, ys = batches(1)
    rep = finetune_on_device(g, "stm32f405", batches=(xs, ys), trainable="all", batch=1, **OPTIMIZERS["sgd"])
    check_parity(rep, xs, ys, "stm32f405 motif sgd")
    check_shared(rep)
    assert rep.runner.startswith("QEMU")


def test_clustered_weight_fine_tunes_its_centroids(host_cc):
    """A k-means style codebook without mask: 8 centroids train, the 1,024 indices stay constant."""
    g = clustered_mlp()
    xs, ys = batches(2)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="all", batch=2, sanitize=True,
                             **OPTIMIZERS["adam"])
    check_parity(rep, xs, ys, "host clustered adam")
    check_shared(rep)
    assert rep.program.trainable[0].size == 8


def test_frozen_shared_weight_in_the_head_stays_in_flash(host_cc):
    """A frozen codebook in the trainable part (its bias trains) runs from flash through the shared
    kernel; only the bias is stored."""
    g = clustered_mlp()
    g.params["dense1.weight"].trainable = False
    xs, ys = batches(2)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable=None, batch=2, **OPTIMIZERS["sgd"])
    check_parity(rep, xs, ys, "host frozen codebook")
    assert "dense1.weight" not in [q.name for q in rep.program.trainable]
    assert any("ET_DENSE_SHARED_BWD" in op.train and "NULL, &et_train_param" in op.train
               for op in rep.program.ops if op.phase == "backward")


def test_shared_indices_out_of_range_are_refused():
    from edgetrain.export.c.rules.dense import shared_indices

    p = clustered_mlp().params["dense1.weight"]
    assert shared_indices(p).shape == (16, 64) and shared_indices(p).dtype == np.uint16
    p.indices = p.indices.copy()
    p.indices[0, 0] = 99
    with pytest.raises(UnsupportedOpError) as e:
        shared_indices(p)
    assert "codebook" in str(e.value) and e.value.hint


def test_old_device_config_name_still_works_with_a_warning():
    import edgetrain.export.c.train_program as tp_module

    with pytest.warns(DeprecationWarning, match="DeviceTrainConfig"):
        old = tp_module.TrainConfig
    assert old is DeviceTrainConfig


def test_cqkd_model_fine_tunes_its_head_centroids_over_a_packed_body(host_cc):
    """A model clustered by the CQKD technique: the head's 4 centroids and bias train on the device
    (the shared-weight kernels), the frozen clustered body runs from packed indices in flash; the
    device matches the numpy fine-tuning reference."""
    from edgetrain.techniques.cqkd import cluster_weights

    g = Sequential([Dense(32, "relu"), Dense(16, "relu"), Dense(10)], 64, seed=3)
    cluster_weights(g, layer_clusters={"dense1": 16, "dense2": 8, "dense3": 4}, seed=0)
    xs, ys = batches(2)
    rep = finetune_on_device(g, "host", batches=(xs, ys), trainable="last:1", batch=2, sanitize=True,
                             **OPTIMIZERS["sgd"])
    check_parity(rep, xs, ys, "host cqkd head sgd")
    check_shared(rep)
    assert [q.size for q in rep.program.trainable] == [4, 10]
    packed = {a.layer for a in rep.program.arrays if a.role == "idx_words"}
    assert packed == {"dense1", "dense2"}, packed
    assert not any(a.role == "weights" and a.layer in packed for a in rep.program.arrays)

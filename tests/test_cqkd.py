"""CQKD: per-layer k-means clustering in the training loop, distilled from a clustered teacher.

* Clustering: k centroids from scikit-learn's k-means, every weight its nearest centroid, the
  forward pass uses codebook[indices]; masked weights cluster over their kept entries.
* The schedule (float, clustered, free + re-clustered phases) adds up to the training epochs.
* Training: the student ends clustered with at most k values per layer, and accurate; the teacher
  is clustered with the same k; a config with [techniques.cqkd] trains through the CLI and its
  report names each layer's used clusters and the compression ratio.
* Structured pruning removes whole units (the layer and its consumer shrink) before clustering.
* Bad input: k < 2, k > 256, bits that cannot hold k, a layer with fewer weights than k, an
  unknown layer or option: clear errors before anything trains.
"""

from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.errors import ConfigError
from edgetrain.techniques.cqkd import CQKDSettings, cluster_specs, cluster_weights, prune_units, train_cqkd

from helpers import assert_user_error, digits, run_cli  # noqa: F401  (digits: fixture)


def mlp(hidden=(32,), seed=0):
    return et.Sequential([*(et.Dense(h, "relu") for h in hidden), et.Dense(10)], 64, seed=seed)


def test_cluster_weights_nearest_centroid_and_report():
    g = mlp((32,))
    w_before = {n: g.params[n].value.copy() for n in ("dense1.weight", "dense2.weight")}
    report = cluster_weights(g, clusters=8, layer_clusters={"dense2": 4})
    for name, k in (("dense1.weight", 8), ("dense2.weight", 4)):
        p = g.params[name]
        assert p.codebook.shape == (k,) and p.indices.shape == p.shape
        eff = p.effective()
        assert np.unique(eff).size <= k and set(np.unique(eff)) <= set(p.codebook)
        # every weight sits at its nearest centroid
        dist = np.abs(w_before[name][..., None] - p.codebook)
        chosen = np.take_along_axis(dist, p.indices[..., None].astype(np.int64), -1)[..., 0]
        assert np.array_equal(chosen, dist.min(-1))
        # k-means centroids are the means of their members (the k-means fixed point, within its tolerance)
        for c in np.unique(p.indices):
            assert abs(w_before[name][p.indices == c].mean() - p.codebook[c]) < 2e-2
    rows = {r.layer: r for r in report.layers}
    assert (rows["dense1"].clusters, rows["dense1"].bits, rows["dense2"].bits) == (8, 3, 2)
    assert all(r.used <= r.clusters for r in report.layers)
    float_bits = 32 * sum(p.size for p in g.params.values())
    stored = (64 * 32 * 3 + 32 * 10 * 2) + 32 * (8 + 4) + 32 * (32 + 10)
    assert report.compression == pytest.approx(float_bits / stored)


def test_masked_weight_clusters_over_its_kept_entries():
    g = mlp((16,))
    p = g.params["dense1.weight"]
    rng = np.random.default_rng(0)
    p.mask = rng.random(p.shape) < 0.3
    p.value = np.where(p.mask, p.value + 5.0, p.value).astype(np.float32)  # kept entries far from the dropped
    cluster_weights(g, clusters=4, layers=["dense1"])
    assert p.codebook.min() > 4.0  # no centroid spent on the masked-out values
    assert np.all(p.effective()[~p.mask] == 0)


@pytest.mark.parametrize(
    ("epochs", "float_epochs", "every", "expected"),
    [
        (10, None, 0, [("float", 5), ("clustered", 5)]),
        (10, 0, 0, [("clustered", 10)]),
        (10, 4, 3, [("float", 4), ("clustered", 3), ("free", 1), ("clustered", 2)]),
        (10, 4, 2, [("float", 4), ("clustered", 2), ("free", 1), ("clustered", 1), ("free", 1), ("clustered", 1)]),
        (8, 4, 3, [("float", 4), ("clustered", 4)]),  # one epoch left over joins the last clustered phase
    ],
)
def test_phases_add_up_to_the_epochs(epochs, float_epochs, every, expected):
    s = CQKDSettings(cluster_specs(mlp(), 4), float_epochs, every)
    assert s.phases(epochs) == expected
    assert sum(n for _, n in expected) == epochs


def test_training_ends_clustered_and_accurate(digits, tmp_path):
    g = mlp((32,))
    hist, report = train_cqkd(
        g, digits, clusters=16, epochs=12, recluster_every=3, teacher="none", optimizer="adam", lr=3e-3
    )
    assert len(hist.epochs) == 12 and [e["epoch"] for e in hist.epochs] == list(range(1, 13))
    assert [e["clustered"] for e in hist.epochs] == [0.0] * 6 + [1, 1, 1, 0, 1, 1]
    for layer in ("dense1", "dense2"):
        p = g.params[f"{layer}.weight"]
        assert p.codebook is not None and np.unique(p.effective()).size <= 16
        assert p.meta["cluster"] == {"technique": "cqkd", "clusters": 16, "bits": 4}
    assert et.accuracy(g, digits.test) > 0.93
    assert g.meta["clustering"]["compression"] == pytest.approx(report.compression)
    # the model file keeps codebook, indices and the cluster figures
    et.save_model(g, tmp_path / "cq.npz")
    loaded = et.load_model(tmp_path / "cq.npz")
    assert np.array_equal(et.predict(loaded, digits.test.x), et.predict(g, digits.test.x))


def test_teacher_is_clustered_and_distils(digits, monkeypatch):
    import edgetrain.techniques.cqkd as cqkd

    seen = {}
    original = cqkd.train_teacher

    def spy(*args, **kw):
        seen["teacher"] = t = original(*args, **kw)
        return t

    monkeypatch.setattr(cqkd, "train_teacher", spy)
    g = mlp((16,))
    train_cqkd(g, digits, clusters=4, epochs=4, teacher_epochs=6, teacher="same", optimizer="adam", lr=3e-3)
    teacher = seen["teacher"]
    assert teacher is not g and teacher.meta["training"]["epochs"] == 6
    for layer in ("dense1", "dense2"):
        assert teacher.params[f"{layer}.weight"].codebook.shape == (4,)
    assert g.meta["training"]["loss"] == "distillation"


def test_prune_units_shrinks_the_layer_and_its_consumer():
    g = mlp((32, 16))
    norms = np.linalg.norm(g.params["dense1.weight"].value, axis=0)
    kept = prune_units(g, ["dense1", "dense2", "dense3"], 0.25)
    assert kept == {"dense1": 24, "dense2": 12}  # dense3 is the output: never pruned
    assert g.params["dense1.weight"].shape == (64, 24) and g.params["dense1.bias"].shape == (24,)
    assert g.params["dense2.weight"].shape == (24, 12) and g.params["dense3.weight"].shape == (12, 10)
    survivors = np.sort(np.argsort(-norms, kind="stable")[:24])
    x = np.random.default_rng(1).normal(size=(3, 64)).astype(np.float32)
    h = np.maximum(x @ g.params["dense1.weight"].value + g.params["dense1.bias"].value, 0)
    assert h.shape == (3, 24) and survivors.size == 24
    assert et.predict(g, x).shape == (3, 10)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"clusters": 1}, "outside 2..256"),
        ({"clusters": 300}, "outside 2..256"),
        ({"clusters": 16, "bits": 3}, "3-bit indices cannot hold 16 clusters"),
        ({"clusters": 4, "bits": 9}, "9-bit indices cannot hold"),
        ({"clusters": 4, "layer_clusters": {"nope": 4}}, "nope"),
        ({"clusters": 4, "layers": ["relu1"]}, "relu1"),
    ],
)
def test_bad_cluster_options(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        cluster_specs(mlp(), **kw)


def test_layer_with_fewer_weights_than_clusters():
    g = et.Sequential([et.Dense(2, "relu"), et.Dense(3)], 2)  # dense1: 4 weights
    with pytest.raises(ConfigError, match="dense1 has 4 weights, fewer than its 8 clusters"):
        cluster_specs(g, 8)


def test_bad_schedule_and_loss_options(digits):
    with pytest.raises(ConfigError, match="leaves none"):
        CQKDSettings(cluster_specs(mlp(), 4), float_epochs=10).phases(10)
    with pytest.raises(ConfigError, match="alpha"):
        CQKDSettings(cluster_specs(mlp(), 4), alpha=1.5)
    with pytest.raises(ConfigError, match="teacher"):
        CQKDSettings(cluster_specs(mlp(), 4), teacher="bigger")
    with pytest.raises(ConfigError, match="cross_entropy"):
        train_cqkd(mlp(), digits, clusters=4, epochs=2, loss="mse")


CONFIG = """
name = "cq"
seed = 0
[data]
source = "digits"
test_size = 0.3
val_size = 0.1
[model]
layers = [{{ type = "dense", units = 32, activation = "relu" }}, {{ type = "dense", units = 10 }}]
[train]
epochs = 6
[train.optimizer]
name = "adam"
lr = 0.003
[techniques.cqkd]
{options}
"""


def test_config_trains_through_the_cli(tmp_path):
    cfg = tmp_path / "cq.toml"
    cfg.write_text(CONFIG.format(options='clusters = 8\nlayer_clusters = { dense2 = 4 }\nteacher = "none"'))
    r = run_cli("train", cfg, "-o", tmp_path / "cq.npz")
    assert r.returncode == 0, r.stderr
    assert "k=8 (3-bit indices)" in r.stdout and "k=4 (2-bit indices)" in r.stdout and "compression" in r.stdout
    g = et.load_model(tmp_path / "cq.npz")
    assert g.params["dense1.weight"].codebook.shape == (8,) and g.params["dense2.weight"].codebook.shape == (4,)


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ("clusters = 1", "clusters = 1 is outside 2..256"),
        ("clusters = 16\nbits = 2", "2-bit indices cannot hold 16"),
        ("clusterz = 4", "clusterz"),
    ],
)
def test_config_errors_are_one_line(tmp_path, options, needle):
    cfg = tmp_path / "cq.toml"
    cfg.write_text(CONFIG.format(options=options))
    assert_user_error(run_cli("train", cfg, "-o", tmp_path / "x.npz"), needle)
    assert not (tmp_path / "x.npz").exists()


def test_int8_quantization_keeps_one_scale_so_weights_are_codebook_entries(digits):
    from edgetrain.quantize.ptq import quantize_model

    g = mlp((32,))
    et.fit(g, digits, epochs=3, optimizer="adam", lr=3e-3)
    cluster_weights(g, clusters=8, layers=["dense1"])
    qm = quantize_model(g, digits.train.x[:200], per_channel=True)
    steps = {st.name: st for st in qm.steps if hasattr(st, "weights")}
    clustered, plain = steps["dense1"], steps["dense2"]
    assert not clustered.per_channel and clustered.weight_scales.size == 1
    assert plain.per_channel and plain.weight_scales.size == 10  # an unclustered layer stays per channel
    p = g.params["dense1.weight"]
    codebook_q = np.clip(np.rint(p.codebook / clustered.weight_scales[0]), -127, 127).astype(np.int8)
    assert np.array_equal(clustered.weights, codebook_q[p.indices.T])


def test_a_teacher_of_another_architecture_is_clustered_on_every_dense_layer():
    """Layers named like the student's take its k (or stay float with it); the others take the k
    most of the student's clustered layers use."""
    from edgetrain.techniques.cqkd import cluster_specs, teacher_specs

    student = mlp((16,))
    specs = cluster_specs(student, 8, {"dense1": 4}, layers=["dense1"])
    teacher = et.Sequential([et.Dense(32, "relu", name="wide1"), et.Dense(32, "relu", name="wide2"),
                             et.Dense(10, name="dense2")], input_shape=64, seed=0)
    got = teacher_specs(teacher, student, specs)
    assert {layer: s.clusters for layer, s in got.items()} == {"wide1": 4, "wide2": 4}


def test_conv_layers_cluster_and_run_on_every_export(tmp_path, host_cc):
    """Conv weights are clustered like dense ones (one codebook per layer over its kernel entries);
    numpy, onnxruntime and the C export (float32 and int8, host) agree on the clustered model.
    The C conv kernels read the expanded weight: no packed conv kernel yet (packed_bytes None)."""
    import onnxruntime as ort

    from edgetrain.device import build_firmware, run_firmware
    from edgetrain.export.c import export_c
    from edgetrain.interop.onnx import build_inference_model
    from edgetrain.model_report import cluster_rows
    from edgetrain.quantize import int8_reference

    g = et.Sequential([et.Conv2D(4, 3, activation="relu"), et.DepthwiseConv2D(3, padding="same"), et.MaxPool2D(2),
                       et.Conv2D(6, 1), et.Flatten(), et.Dense(10)], input_shape=(8, 8, 1), seed=2)
    report = cluster_weights(g, clusters=8, layer_clusters={"dense1": 4}, seed=0)
    clustered = {row.layer: row.clusters for row in report.layers}
    convs = [n.name for n in g.nodes if n.op == "conv2d"]
    assert clustered == {**dict.fromkeys(convs, 8), "dense1": 4}
    for layer in convs:
        assert np.unique(g.params[f"{layer}.weight"].effective()).size <= 8
    rows = {r["layer"]: r for r in cluster_rows(g)}
    assert all(rows[layer]["packed_bytes"] is None for layer in convs) and rows["dense1"]["packed_bytes"]
    x = np.random.default_rng(0).standard_normal((40, 8, 8, 1)).astype(np.float32)
    want = et.forward(g, x)[0][g.outputs[0]]
    sess = ort.InferenceSession(build_inference_model(g).SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {sess.get_inputs()[0].name: x})[0], want, atol=1e-5)
    for dtype in ("f32", "int8"):
        res = export_c(g, "host", tmp_path / dtype, dtype, x)
        fw = build_firmware("host", res.out_dir, tmp_path / f"b-{dtype}", parity=True)
        out = run_firmware(fw, res.prepare_input(x), res.output_dtype, timeout=120).outputs
        if res.qmodel is not None:
            np.testing.assert_array_equal(out, int8_reference(res.qmodel, x))
        else:
            np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)

"""int8 C export of CNNs: the quantizer's conv and pool rules (per-channel conv weights, pools
that keep their input's quantization, global average pool as TFLite MEAN) lowered onto the int8
conv and pool kernels, bit-exact with the numpy int8 reference on host gcc (fast kernels and
``-DET_FORCE_REF``) and on QEMU stm32f405 (Cortex-M4F, DSP) and stm32f205 (Cortex-M3, no DSP).

The models (`cnn_models`) cover stride 1/2, same/valid/asymmetric padding, dilation, groups,
depthwise with multipliers 1 and 2, 1x1 convs, conv1d, folded batch_norm and fused relu / relu6.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.cli import main
from edgetrain.device import build_firmware, run_firmware
from edgetrain.export.c import ExportResult, export_c, prepare_model
from edgetrain.export.c.abi import conv_scratch_bytes, depthwise_conv_s8_scratch_bytes, struct_bytes
from edgetrain.layers import AvgPool2D, Conv2D, GlobalAvgPool, MaxPool2D, ReLU
from edgetrain.quantize import QConv, QPool, from_graph, quantize_model
from edgetrain.quantize.reference import int8_reference

from cnn_models import MODELS, depthwise_cnn, digits_cnn, samples
from codegen_models import digits

CALIB = 64


def calib(g: et.Graph) -> np.ndarray:
    return samples(g, CALIB, seed=1)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    root = tmp_path_factory.mktemp("cnn8")
    return {k: export_c(f(), "stm32f405", root / k, dtype="int8", calib_x=calib(f()), per_channel=True)
            for k, f in MODELS.items()}


def run(res: ExportResult, target: str, x: np.ndarray, build: Path, *, ref: bool = False) -> np.ndarray:
    fw = build_firmware(target, res.out_dir, build, parity=True, defines={"ET_FORCE_REF": 1} if ref else None)
    return run_firmware(fw, res.prepare_input(x), res.output_dtype, timeout=300).outputs.astype(np.int8)


def assert_bit_exact(res: ExportResult, x: np.ndarray, device: np.ndarray) -> None:
    expected = int8_reference(res.qmodel, x)
    assert device.shape == expected.shape
    assert len(np.unique(expected)) > 4  # outputs spread over many codes: a wrong kernel shows
    np.testing.assert_array_equal(device, expected)


# ---------------------------------------------------------------- host parity

@pytest.mark.parametrize("key", list(MODELS))
@pytest.mark.parametrize("ref", [False, True], ids=["fast", "ref"])
def test_host_int8_cnn_equals_the_numpy_reference(key: str, ref: bool, exports, host_cc: str,
                                                   tmp_path: Path) -> None:
    g = MODELS[key]()
    x = samples(g, 64)
    assert_bit_exact(exports[key], x, run(exports[key], "host", x, tmp_path / "b", ref=ref))


def test_per_tensor_weights_are_bit_exact_too(host_cc: str, tmp_path: Path) -> None:
    g = MODELS["zoo"]()
    res = export_c(g, "host", tmp_path / "m", dtype="int8", calib_x=calib(g), per_channel=False)
    assert all(not q.per_channel for q in res.qmodel.steps if isinstance(q, QConv))
    x = samples(g, 32)
    assert_bit_exact(res, x, run(res, "host", x, tmp_path / "b"))


# ---------------------------------------------------------------- QEMU

@pytest.mark.parametrize("target", ["stm32f405", "stm32f205"])
@pytest.mark.parametrize("key", ["zoo", "dw_cnn", "conv1d"])
def test_qemu_int8_cnn_equals_the_numpy_reference(target: str, key: str, exports, arm_cc: str, qemu: str,
                                                  tmp_path: Path) -> None:
    g = MODELS[key]()
    x = samples(g, 12)
    assert_bit_exact(exports[key], x, run(exports[key], target, x, tmp_path / "q"))


# ---------------------------------------------------------------- the quantized model

def test_quantizer_rules_for_conv_and_pool() -> None:
    g = et.Sequential([Conv2D(6, 3, activation="relu"), MaxPool2D(2), AvgPool2D(2, padding="same"), ReLU(),
                       Conv2D(4, 1), GlobalAvgPool(), et.Dense(3)], input_shape=(8, 8, 2), seed=5, name="q")
    x = np.random.default_rng(5).normal(size=(40, 8, 8, 2)).astype(np.float32)
    qm = quantize_model(g, x)
    steps = {q.name: q for q in qm.steps}
    conv, mx, avg = steps["conv2d1"], steps["max_pool1"], steps["avg_pool1"]
    assert isinstance(conv, QConv) and conv.weights.shape == (3, 3, 2, 6) and conv.weight_scales.size == 6
    assert conv.activation == "relu" and conv.act_min == qm.tensors[conv.output].zero_point
    # pools keep their input's scale and zero point; the global pool has its own
    for pool in (mx, avg):
        assert isinstance(pool, QPool)
        src, out = qm.tensors[pool.input], qm.tensors[pool.output]
        assert (out.scale, out.zero_point) == (src.scale, src.zero_point)
    assert avg.activation == "relu" and avg.act_min == qm.tensors[avg.output].zero_point  # the fused relu
    gap = steps["global_avg_pool1"]
    assert qm.tensors[gap.output].scale != qm.tensors[gap.input].scale and gap.multiplier > 0
    # the graph copy carries per-channel conv qparams on the output-channel axis; a save/load
    # round trip rebuilds the same integer model
    wq = qm.graph.params[qm.graph.node("conv2d1").params["weight"]].qparams
    assert wq.axis == 3 and wq.scale.size == 6
    again = from_graph(qm.graph)
    np.testing.assert_array_equal(int8_reference(again, x), int8_reference(qm, x))


def test_flat_rows_calibrate_a_shaped_model_as_a_batch() -> None:
    # (N, 96) rows of a (32, 3) model are N samples, not one (what a flat .npz or CSV gives)
    g = MODELS["conv1d"]()
    x = samples(g, 16)
    shaped, flat = quantize_model(g, x), quantize_model(g, x.reshape(16, -1))
    assert flat.info["calibration_samples"] == 16
    assert {t: (q.scale, q.zero_point) for t, q in flat.tensors.items()} == \
        {t: (q.scale, q.zero_point) for t, q in shaped.tensors.items()}


def test_batch_norm_is_folded_before_quantizing() -> None:
    g = MODELS["bn_cnn"]()
    qm = quantize_model(g, calib(g))
    assert not any(n.op == "batch_norm" for n in qm.graph.nodes)
    assert any(n.op == "batch_norm" for n in g.nodes)  # the caller's graph is left alone
    x = samples(g, 64)
    float_out = et.predict(g, x)
    int8_out = qm.dequantize_output(int8_reference(qm, x))
    assert np.abs(int8_out - float_out).max() < 0.1 * np.abs(float_out).max()


def test_digits_cnn_int8_keeps_its_accuracy() -> None:
    g = digits_cnn()
    d = digits()
    qm = quantize_model(g, d.train.x[:256])
    f32_acc = float((et.predict(g, d.test.x).argmax(1) == d.test.y).mean())
    int8_acc = float((qm.dequantize_output(int8_reference(qm, d.test.x)).argmax(1) == d.test.y).mean())
    assert int8_acc >= f32_acc - 0.01, (f32_acc, int8_acc)


# ---------------------------------------------------------------- generated code and memory

def test_lowering_picks_the_int8_kernels(exports) -> None:
    zoo = (exports["zoo"].out_dir / "model.c").read_text()
    assert zoo.count("ET_CONV_S8(&") == 5 and zoo.count("ET_DEPTHWISE_CONV_S8(&") == 1
    assert "ET_AVG_POOL_S8(&" in zoo and "ET_MAX_POOL_S8(&" in zoo and "ET_CONV_F32" not in zoo
    dw = (exports["dw_cnn"].out_dir / "model.c").read_text()
    assert "ET_GLOBAL_AVG_POOL_S8(&" in dw
    # the plain bias exists for the reference build only; the fast kernels read eff_bias
    data = (exports["zoo"].out_dir / "model_data.c").read_text()
    assert "#if defined(ET_FORCE_REF)" in data and "conv2d1_eff_bias" in data
    for src in ("et_conv_s8.c", "et_conv_s8_ref.c", "et_pool_s8.c", "et_conv_geom.c", "et_dense_s8.c"):
        assert (exports["zoo"].out_dir / "runtime" / "src" / src).is_file(), src


def test_int8_conv_scratch_is_one_int8_window_in_the_arena() -> None:
    program, report, _ = prepare_model(digits_cnn(), "stm32f405", "int8", calib_x=digits().train.x[:64])
    s1, s2 = program.plan.buffers["conv2d1:scratch"], program.plan.buffers["conv2d2:scratch"]
    assert (s1.size, s2.size) == (conv_scratch_bytes(3, 3, 1, 1, 1), conv_scratch_bytes(3, 3, 16, 1, 1))
    c = "\n".join(call.statement for call in program.calls)
    assert f"ET_ARENA(int8_t, {program.plan.offsets['conv2d2:scratch']})" in c
    rows = {lm.layer: lm for lm in report.layers}
    c2 = rows["conv2d2"]
    assert c2.weights == 3 * 3 * 16 * 32 and c2.args == struct_bytes("et_conv_s8_params")
    assert c2.activation == 4 * 4 * 32  # int8 activations: one byte each
    # while conv2d2 runs: its input (the 4x4x16 pool output), its output and its window
    win = conv_scratch_bytes(3, 3, 16, 1, 1)  # et_conv_s8_scratch_bytes: two int16 windows, one int8
    assert c2.scratch == win and c2.live == 4 * 4 * 16 + 4 * 4 * 32 + win
    assert max(lm.live for lm in report.layers) == program.plan.peak_live_bytes()


# ---------------------------------------------------------------- CLI

def test_cli_export_and_emulate_an_int8_cnn(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            host_cc: str) -> None:
    model = et.save_model(digits_cnn(), tmp_path / "cnn.etm")
    main(["export", "c", str(model), "-t", "stm32f405", "-o", str(tmp_path / "q"), "--dtype", "int8",
          "--calib", "digits:train"])
    out = capsys.readouterr().out
    assert "conv2d1" in out and "flash total" in out
    assert (tmp_path / "q" / "model.c").read_text().count("ET_CONV_S8(&") == 2
    main(["emulate", str(model), "-t", "host", "--dtype", "int8", "--data", "digits:test", "--limit", "50",
          "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["samples"] == 50 and doc["disagreements"] == 0 and doc["max_abs_diff"] == 0
    assert doc["device_accuracy"] == doc["numpy_accuracy"] > 0.8


def test_int8_dw_cnn_depthwise_weights_use_the_hwo_layout(exports) -> None:
    qm = exports["dw_cnn"].qmodel
    dw = next(q for q in qm.steps if isinstance(q, QConv) and q.depthwise)
    assert dw.weights.shape[2] == 1 and dw.groups == dw.in_shape[2]
    data = (exports["dw_cnn"].out_dir / "model_data.c").read_text()
    assert f"int8_t et_model_{dw.name}_weights[{dw.weights.size}]" in data
    assert depthwise_cnn().node(dw.name).attrs["groups"] == dw.groups


# ---------------------------------------------------------------- DS-CNN on the stm32f405

def test_ds_cnn_fits_the_stm32f405_in_int8_and_runs_bit_exact(arm_cc: str, qemu: str, tmp_path: Path) -> None:
    """The DS-CNN-sized keyword spotter (bench/dscnn.py) fits 1 MiB flash / 128 KiB RAM in int8,
    its arena holds two 25x5x64 activations (the lifetime plan reuses the rest), and it runs
    bit-exact on QEMU."""
    from helpers import load_bench

    g = load_bench("dscnn.py").dscnn()
    calib_x = np.random.default_rng(1).standard_normal((16, 49, 10, 1)).astype(np.float32)
    res = export_c(g, "stm32f405", tmp_path / "ds", dtype="int8", calib_x=calib_x)
    rep = res.report
    assert rep.fits and rep.flash_bytes < 1 << 20 and rep.ram_bytes < 128 * 1024
    # ping-pong between two activations, plus the depthwise kernels' padded band (5 slots of 27
    # rows, the longer axis, of 4 channels as int16 pairs, + 3, rounded up to the arena's
    # alignment); nothing else
    band = depthwise_conv_s8_scratch_bytes(64, 64, (3, 3), (1, 1), (1, 1), (25, 5))
    assert band == 5 * 27 * 16 + 3
    assert rep.arena_bytes == 2 * 25 * 5 * 64 + band + 1
    assert sum(lm.op == "conv2d/depthwise" for lm in rep.layers) == 4
    x = np.random.default_rng(2).standard_normal((2, 49, 10, 1)).astype(np.float32)
    np.testing.assert_array_equal(run(res, "stm32f405", x, tmp_path / "b"), int8_reference(res.qmodel, x))


def test_budget_error_names_the_layer_that_needs_the_most_ram(tmp_path: Path) -> None:
    from edgetrain.errors import BudgetExceededError

    g = et.Sequential([Conv2D(16, 3, name="stem"), Conv2D(64, 3, activation="relu", name="wide"), GlobalAvgPool(),
                       et.Dense(4)], input_shape=(64, 64, 1), name="big_cnn8")
    x = np.random.default_rng(0).standard_normal((4, 64, 64, 1)).astype(np.float32)
    with pytest.raises(BudgetExceededError) as err:
        export_c(g, "stm32f205", tmp_path / "big", dtype="int8", calib_x=x)
    msg = str(err.value)
    # wide: its input (64*64*16) + output (64*64*64) + its scratch (5 * 3*3*16 + 3) are live together
    assert "layer wide needs 328,403 B of arena while it runs" in msg, msg
    assert "\n" not in msg and not (tmp_path / "big").exists()

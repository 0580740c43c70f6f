"""float32 C export of CNNs: conv2d / conv1d / depthwise / grouped convolutions and the pools
lowered onto et_conv.h / et_pool.h, batch_norm folded, built with gcc (and once for QEMU
stm32f405) and compared with numpy ``predict`` to 1e-5 (parity builds, ``-ffp-contract=off``),
with the fast kernels and with ``-DET_FORCE_REF``.

The models (`cnn_models`) have random, non-zero biases and batch_norm statistics. The int8
export of the same models: test_c_conv_export_int8.py.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

import edgetrain as et
from edgetrain.cli import main
from edgetrain.device import build_firmware, emulate_model, run_firmware
from edgetrain.errors import BudgetExceededError, UnsupportedOpError
from edgetrain.export.c import ExportResult, export_c, prepare_model
from edgetrain.export.c.abi import conv_scratch_bytes, struct_bytes
from edgetrain.layers import BatchNorm, Conv2D, GlobalAvgPool, GraphBuilder, MaxPool2D, ReLU
from edgetrain.resources import firmware_dir

from cnn_models import MODELS, batch_norm_model, depthwise_cnn, digits_cnn, samples

TOL = 1e-5


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ExportResult]:
    root = tmp_path_factory.mktemp("cnn")
    return {k: export_c(f(), "stm32f405", root / k, dtype="f32") for k, f in MODELS.items()}


def run(res: ExportResult, target: str, x: np.ndarray, build: Path, *, ref: bool = False):
    fw = build_firmware(target, res.out_dir, build, parity=True, defines={"ET_FORCE_REF": 1} if ref else None)
    return run_firmware(fw, res.prepare_input(x), res.output_dtype, timeout=120)


# ---------------------------------------------------------------- host parity

@pytest.mark.parametrize("key", list(MODELS))
@pytest.mark.parametrize("ref", [False, True], ids=["fast", "ref"])
def test_host_cnn_matches_numpy(key: str, ref: bool, exports, host_cc: str, tmp_path: Path) -> None:
    g = MODELS[key]()
    x = samples(g, 64)
    result = run(exports[key], "host", x, tmp_path / "b", ref=ref)
    expected = et.predict(g, x)  # the original graph (batch_norm unfolded, inference mode)
    assert result.outputs.shape == expected.shape
    assert np.abs(expected).max() > 0.1  # a model whose outputs are ~0 would prove nothing
    np.testing.assert_allclose(result.outputs, expected, rtol=TOL, atol=TOL)


def test_lowering_picks_the_kernels(exports) -> None:
    zoo = (exports["zoo"].out_dir / "model.c").read_text()
    assert zoo.count("ET_CONV_F32(&") == 5 and zoo.count("ET_DEPTHWISE_CONV_F32(&") == 1
    assert "ET_AVG_POOL_F32(&" in zoo and "ET_MAX_POOL_F32(&" in zoo
    assert ".groups = 2," in zoo and ".dilation_h = 2, .dilation_w = 2" in zoo
    # explicit [[0, 2], [1, 0]] and the resolved "same" of the stride-2 depthwise conv (5x6 input)
    assert ".pad_top = 0, .pad_bottom = 2, .pad_left = 1, .pad_right = 0" in zoo
    assert ".act_min = 0.0f, .act_max = 6.0f" in zoo  # relu6 fused into the first conv
    # the 1x1 stride-2 conv without bias passes NULL, and needs no scratch
    line = next(ln for ln in zoo.splitlines() if "et_p_conv2d6," in ln and "ET_CONV_F32" in ln)
    assert "et_model_conv2d6_weights, NULL, " in line and line.rstrip().endswith(", NULL);")
    c = (exports["conv1d"].out_dir / "model.c").read_text()
    assert ".in_h = 1, .in_w = 32, .in_c = 3" in c and ".kernel_h = 1, .kernel_w = 5" in c
    assert ".pad_left = 1, .pad_right = 2" in c  # TF "same" over 32 at stride 2: the odd pad at the end
    bn = exports["bn_cnn"]
    assert not any(st.kind == "batch_norm" for st in bn.program.lowered.steps)
    assert "et_model_conv2d1_bias" in (bn.out_dir / "model_data.h").read_text()  # created by the fold
    files = {str(f) for f in exports["dw_cnn"].files}
    for src in ("et_conv_f32.c", "et_conv_f32_ref.c", "et_conv_geom.c", "et_dense_f32.c", "et_pool_f32.c"):
        assert f"runtime/src/{src}" in files, src
    assert "runtime/include/et_conv.h" in files and "runtime/include/et_pool.h" in files


def test_depthwise_weights_use_the_hwo_layout(exports) -> None:
    res = exports["dw_cnn"]
    arr = next(a for a in res.program.arrays if a.layer == "conv2d2" and a.role == "weights")
    w = res.program.lowered.graph.params["conv2d2.weight"].value  # (3, 3, 1, 16)
    np.testing.assert_array_equal(arr.values, w.reshape(3, 3, 16))
    arr = next(a for a in res.program.arrays if a.layer == "conv2d1" and a.role == "weights")
    np.testing.assert_array_equal(arr.values, res.program.lowered.graph.params["conv2d1.weight"].value
                                  .transpose(3, 0, 1, 2))


# ---------------------------------------------------------------- scratch

SCRATCH_DRIVER = r"""
#include <stdio.h>
#include "et_conv.h"
int main(void)
{
    static const int32_t shapes[][8] = {  /* in_h in_w in_c out_c k_h k_w groups stride */
        {8, 8, 1, 16, 3, 3, 1, 1}, {4, 4, 16, 32, 3, 3, 1, 1}, {6, 6, 8, 8, 3, 3, 2, 1},
        {5, 7, 6, 12, 1, 1, 1, 2}, {5, 7, 6, 12, 1, 1, 3, 1}, {1, 32, 3, 8, 1, 5, 1, 2}, {9, 9, 4, 4, 3, 1, 4, 1}};
    size_t i;
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const int32_t *s = shapes[i];
        et_conv_f32_params p;
        p.geom.batch = 3; p.geom.in_h = s[0]; p.geom.in_w = s[1]; p.geom.in_c = s[2]; p.geom.out_c = s[3];
        p.geom.kernel_h = s[4]; p.geom.kernel_w = s[5]; p.geom.stride_h = s[7]; p.geom.stride_w = s[7];
        p.geom.dilation_h = 1; p.geom.dilation_w = 1;
        p.geom.pad_top = 0; p.geom.pad_bottom = 0; p.geom.pad_left = 0; p.geom.pad_right = 0;
        p.geom.out_h = (s[0] - s[4]) / s[7] + 1; p.geom.out_w = (s[1] - s[5]) / s[7] + 1;
        p.groups = s[6]; p.act_min = -1.0f; p.act_max = 1.0f;
        printf("%d\n", (int)et_conv_f32_scratch_bytes(&p));
    }
    return 0;
}
"""
SCRATCH_SHAPES = [(3, 3, 1, 1), (3, 3, 16, 1), (3, 3, 8, 2), (1, 1, 6, 1), (1, 1, 6, 3), (1, 5, 3, 1), (3, 1, 4, 4)]


def test_scratch_formula_equals_the_c_function(host_cc: str, tmp_path: Path) -> None:
    fw = firmware_dir()
    (tmp_path / "d.c").write_text(SCRATCH_DRIVER)
    exe = tmp_path / "d"
    subprocess.run([host_cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", f"-I{fw / 'include'}",
                    str(tmp_path / "d.c"), str(fw / "src" / "et_conv_f32.c"), str(fw / "src" / "et_conv_geom.c"),
                    str(fw / "src" / "et_dense_f32.c"), str(fw / "src" / "et_status.c"), "-o", str(exe)],
                   check=True, capture_output=True)
    c_values = [int(v) for v in subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()]
    py_values = [conv_scratch_bytes(kh, kw, c, g) for kh, kw, c, g in SCRATCH_SHAPES]
    assert c_values == py_values
    assert 0 in py_values and min(v for v in py_values if v) > 0  # both cases are covered


def test_memory_plan_holds_the_conv_scratch() -> None:
    program, report, _ = prepare_model(digits_cnn(), "stm32f405", "f32")
    plan = program.plan
    s1, s2 = plan.buffers["conv2d1:scratch"], plan.buffers["conv2d2:scratch"]
    assert (s1.size, s2.size) == (3 * 3 * 1 * 4, 3 * 3 * 16 * 4)
    # alive during its own step only, and never overlapping that step's input or output
    assert s1.first == s1.last == 0 and s2.first == s2.last == 2
    live = [b for b in plan.buffers.values() if b.first <= 2 <= b.last]
    for b in live:
        if b.name != s2.name:
            lo, hi = plan.offsets[b.name], plan.offsets[b.name] + b.size
            assert plan.offsets[s2.name] >= hi or plan.offsets[s2.name] + s2.size <= lo
    assert report.arena_bytes >= sum(b.size for b in live) and report.arena_bytes == plan.arena_bytes
    # the depthwise conv and a 1x1 conv need none
    dw, _, _ = prepare_model(depthwise_cnn(), "stm32f405", "f32")
    assert set(n for n in dw.plan.buffers if n.endswith(":scratch")) == {"conv2d1:scratch"}


# ---------------------------------------------------------------- memory report and budget

def test_memory_report_rows_for_conv_layers() -> None:
    _, report, _ = prepare_model(digits_cnn(), "stm32f405", "f32")
    rows = {lm.layer: lm for lm in report.layers}
    c2 = rows["conv2d2"]
    assert c2.op == "conv2d" and c2.format == ""
    assert c2.weights == 3 * 3 * 16 * 32 * 4 and c2.bias == 32 * 4 and c2.quant == 0
    assert c2.args == struct_bytes("et_conv_f32_params") == 80
    assert c2.activation == 4 * 4 * 32 * 4 and c2.macs == 4 * 4 * 32 * 3 * 3 * 16
    pool = rows["max_pool1"]
    assert (pool.weights, pool.bias, pool.args, pool.activation) == (0, 0, struct_bytes("et_pool_f32_params"),
                                                                     4 * 4 * 16 * 4)
    n_params = sum(p.size for p in digits_cnn().params.values())
    assert report.raw_weight_bytes + 4 * (16 + 32 + 10) == 4 * n_params  # conv and dense weights
    assert report.data_bytes == sum(lm.flash for lm in report.layers)
    d = report.to_dict()
    assert d["layers"][0]["layer"] == "conv2d1" and d["arena_bytes"] == report.arena_bytes


def test_cnn_too_big_for_the_target_names_its_largest_activation(tmp_path: Path) -> None:
    g = et.Sequential([Conv2D(8, 3), Conv2D(32, 3, activation="relu", name="wide"), GlobalAvgPool(),
                       et.Dense(4)], input_shape=(48, 48, 1), name="big_cnn")
    out = tmp_path / "big"
    with pytest.raises(BudgetExceededError) as err:
        export_c(g, "stm32f205", out, dtype="f32")
    msg = str(err.value)
    assert "RAM needs" in msg and "largest activations: wide 294,912 B" in msg  # 48 * 48 * 32 * 4
    assert not out.exists()


# ---------------------------------------------------------------- refusals

def test_unfoldable_batch_norm_is_refused(tmp_path: Path) -> None:
    b = GraphBuilder((6, 6, 2), seed=0, name="bn_after_relu")
    h = b.node("relu", [b.conv(b.input, Conv2D(4, 3))])
    h = b.batch_norm(h, BatchNorm(name="bn_late"))
    g = b.build(b.dense(b.node("flatten", [h]), 3))
    with pytest.raises(UnsupportedOpError) as err:
        export_c(g, "host", tmp_path / "x", dtype="f32")
    assert "batch_norm 'bn_late' cannot be folded" in str(err.value) and "reads 'relu1'" in str(err.value)
    assert err.value.hint and not (tmp_path / "x").exists()
    # a conv read by two layers cannot absorb the batch_norm either
    b = GraphBuilder((6, 6, 2), seed=0, name="bn_shared")
    c = b.conv(b.input, Conv2D(2, 3, name="shared"))
    s = b.add(b.batch_norm(c, BatchNorm(name="bn")), c)
    with pytest.raises(UnsupportedOpError, match="'shared' is also read elsewhere"):
        prepare_model(b.build(b.dense(b.node("flatten", [s]), 3)), "host", "f32")


# ---------------------------------------------------------------- emulate path and CLI

def test_emulate_model_folds_batch_norm(host_cc: str) -> None:
    g = batch_norm_model()
    x = samples(g, 20)
    rep = emulate_model(g, "host", x, dtype="f32")
    assert rep.ran_on == "host" and rep.disagreements == 0 and rep.max_abs_diff < 1e-4


def test_cli_export_c_writes_a_cnn_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = et.save_model(digits_cnn(), tmp_path / "cnn.etm")
    main(["export", "c", str(model), "-t", "stm32f405", "--dtype", "f32", "-o", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert "conv2d1" in out and "max_pool1" in out and "flash total" in out
    c = (tmp_path / "c" / "model.c").read_text()
    assert c.count("ET_CONV_F32(&") == 2 and "ET_MAX_POOL_F32(&" in c
    for f in ("runtime/src/et_conv_f32.c", "runtime/src/et_conv_geom.c", "runtime/src/et_pool_f32.c",
              "memory_report.json", "edgetrain_model.mk"):
        assert (tmp_path / "c" / f).is_file(), f
    doc = json.loads((tmp_path / "c" / "memory_report.json").read_text())
    assert doc["arena_bytes"] >= 3 * 3 * 16 * 4


def test_cli_emulate_host_f32_cnn(tmp_path: Path, capsys: pytest.CaptureFixture[str], host_cc: str) -> None:
    model = et.save_model(digits_cnn(), tmp_path / "cnn.etm")
    main(["emulate", str(model), "-t", "host", "--dtype", "f32", "--data", "digits:test", "--limit", "40",
          "--json"])
    doc = json.loads(capsys.readouterr().out)
    # disagreements: an output further than 1e-5 * max(1, |numpy|) from numpy (the float contract)
    assert doc["samples"] == 40 and doc["disagreements"] == 0 and doc["max_abs_diff"] < 1e-4
    assert doc["device_accuracy"] == doc["numpy_accuracy"]


# ---------------------------------------------------------------- QEMU

def test_qemu_stm32f405_cnn_matches_numpy(exports, arm_cc: str, qemu: str, tmp_path: Path) -> None:
    g = depthwise_cnn()
    x = samples(g, 16)
    result = run(exports["dw_cnn"], "stm32f405", x, tmp_path / "q")
    np.testing.assert_allclose(result.outputs, et.predict(g, x), rtol=TOL, atol=TOL)
    assert result.sizes.text > 0


def test_relu_fuses_into_conv_and_pool() -> None:
    from edgetrain.transforms import lower_graph

    g = et.Sequential([Conv2D(4, 3), ReLU(), MaxPool2D(2), ReLU(), GlobalAvgPool(), ReLU(), et.Dense(2)],
                      input_shape=(6, 6, 1), name="fuse")
    steps = lower_graph(g).steps
    assert [(s.kind, s.activation) for s in steps] == [("conv2d", "relu"), ("max_pool", "relu"),
                                                       ("global_avg_pool", "relu"), ("dense", None)]


@pytest.mark.parametrize("target", ["stm32f205", "stm32f746"])
def test_cnn_code_compiles_warning_free_for_m3_and_m7(target: str, exports, arm_cc: str, tmp_path: Path) -> None:
    # build_firmware compiles with -std=c99 -Wall -Wextra -Werror -pedantic: a warning fails it.
    for key in ("zoo", "conv1d"):
        for ref in (False, True):
            fw = build_firmware(target, exports[key].out_dir, tmp_path / f"{key}-{ref}",
                                defines={"ET_FORCE_REF": 1} if ref else None)
            assert fw.sizes.text > 0

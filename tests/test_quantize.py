"""Post-training int8 quantization: calibration, lowering decisions, attachments, reference."""
from __future__ import annotations

import numpy as np
import pytest

import edgetrain as et
from edgetrain.errors import ConfigError, ExportError
from edgetrain.quantize import int8 as quant
from edgetrain.quantize import (QAdd, QAlias, QClamp, QDense, from_graph, int8_predict, int8_reference,
                                quantize_model, run_int8)
from edgetrain.transforms import lower_graph

from codegen_models import digits, float_accuracy, mlp_64_32_10, residual_model


@pytest.mark.parametrize("per_channel", [True, False], ids=["per-channel", "per-tensor"])
def test_mlp_int8_accuracy_within_one_point_of_float(per_channel: bool) -> None:
    d, g = digits(), mlp_64_32_10()
    qm = quantize_model(g, d.train.x, per_channel=per_channel)
    q = int8_reference(qm, d.test.x)
    assert q.dtype == np.int8 and q.shape == (len(d.test.y), 10)
    acc_q = float((q.argmax(1) == d.test.y).mean())
    acc_f = float_accuracy(g, d.test.x, d.test.y)
    assert acc_f > 0.9
    assert abs(acc_q - acc_f) <= 0.01
    # Dequantized logits track the float ones to a few output quantization steps.
    err = np.abs(qm.dequantize_output(q) - et.predict(g, d.test.x))
    assert np.median(err) < 2 * qm.output.scale


def test_relu_is_fused_and_weights_follow_the_c_layout() -> None:
    d, g = digits(), mlp_64_32_10()
    qm = quantize_model(g, d.train.x[:200], per_channel=True)
    dense1, dense2 = qm.steps
    assert isinstance(dense1, QDense) and isinstance(dense2, QDense)
    assert dense1.activation == "relu" and dense1.output == "relu1"
    assert dense1.act_min == qm.tensors["relu1"].zero_point and dense1.act_max == 127
    assert dense2.activation is None and (dense2.act_min, dense2.act_max) == (-128, 127)
    assert dense1.weights.shape == (32, 64) and dense1.weights.dtype == np.int8  # [n_out][n_in]
    assert np.abs(dense1.weights).max() == 127  # symmetric: some weight uses the full range
    assert dense1.multipliers.shape == (32,)
    np.testing.assert_array_equal(dense1.eff_bias,
                                  quant.effective_bias(dense1.bias, dense1.weights, dense1.input_zero_point))
    # The relu output is non-negative: its zero point sits at the bottom of the range.
    assert qm.tensors["relu1"].zero_point == -128


def test_per_tensor_has_one_scale() -> None:
    d, g = digits(), mlp_64_32_10()
    qm = quantize_model(g, d.train.x[:200], per_channel=False)
    assert all(s.multipliers.shape == (1,) and not s.per_channel for s in qm.steps if isinstance(s, QDense))


def test_reference_equals_kernel_chain_computed_by_hand() -> None:
    d, g = digits(), mlp_64_32_10()
    qm = quantize_model(g, d.train.x[:300])
    x = d.test.x[:50]
    d1, d2 = qm.steps
    xq = quant.quantize(x, qm.input.scale, qm.input.zero_point)
    h = quant.dense_s8_reference(xq, d1.weights, d1.bias, d1.input_zero_point, d1.output_zero_point,
                                 d1.multipliers, d1.shifts, d1.act_min, d1.act_max)
    y = quant.dense_s8_reference(h, d2.weights, d2.bias, d2.input_zero_point, d2.output_zero_point,
                                 d2.multipliers, d2.shifts)
    np.testing.assert_array_equal(int8_reference(qm, x), y)
    np.testing.assert_array_equal(run_int8(qm, xq), y)
    with pytest.raises(TypeError):
        run_int8(qm, x)


def test_qparams_travel_in_the_model_file(tmp_path) -> None:
    d, g = digits(), mlp_64_32_10()
    qm = quantize_model(g, d.train.x, per_channel=True)
    assert g.params["dense1.weight"].qparams is None  # the caller's graph is not modified
    wq = qm.graph.params["dense1.weight"].qparams
    assert wq is not None and wq.axis == 1 and wq.scale.shape == (32,) and wq.bits == 8
    assert qm.graph.params["dense1.bias"].qparams.bits == 32
    path = et.save_model(qm.graph, tmp_path / "q.etm")
    again = from_graph(et.load_model(path))
    np.testing.assert_array_equal(int8_reference(again, d.test.x), int8_reference(qm, d.test.x))
    assert (again.input.scale, again.input.zero_point) == (qm.input.scale, qm.input.zero_point)


def test_residual_model_lowering_and_accuracy() -> None:
    d, g = digits(), residual_model()
    qm = quantize_model(g, d.train.x, per_channel=True)
    kinds = [type(s).__name__ for s in qm.steps]
    assert kinds == ["QDense", "QClamp", "QDense", "QDense", "QAdd", "QAlias", "QDense"]
    clamp = next(s for s in qm.steps if isinstance(s, QClamp))
    assert clamp.kind == "relu" and qm.tensors[clamp.output].scale == qm.tensors[clamp.input].scale
    add = next(s for s in qm.steps if isinstance(s, QAdd))
    assert add.activation == "relu6"
    out = qm.tensors[add.output]
    assert add.params.act_min == out.zero_point
    assert add.params.act_max == min(127, out.zero_point + round(6.0 / out.scale))
    assert qm.lowered.dropped_softmax == "softmax1"
    assert isinstance(qm.steps[5], QAlias)
    acc_q = float((int8_predict(qm, d.test.x).argmax(1) == d.test.y).mean())
    assert abs(acc_q - float_accuracy(g, d.test.x, d.test.y)) <= 0.02


def test_percentile_ignores_an_outlier() -> None:
    d, g = digits(), mlp_64_32_10()
    x = d.train.x.copy()
    x[0, 5] = 500.0  # one wild calibration value
    mm = quantize_model(g, x, method="minmax")
    pc = quantize_model(g, x, method="percentile", percentile=99.9)
    assert mm.input.scale > 100 * 2 / 255  # the outlier stretched the min/max range
    assert pc.input.scale < mm.input.scale / 10


def test_lowering_keeps_a_relu_whose_input_is_shared() -> None:
    g = residual_model()
    low = lower_graph(g)
    assert [s.kind for s in low.steps] == ["dense", "relu", "dense", "dense", "add", "alias", "dense", "softmax"]
    assert low.output == "softmax1"
    assert low.steps[4].output == "relu61" and low.steps[4].activation == "relu6"  # fused into the add
    assert low.alias_root("identity1") == "relu61"
    assert lower_graph(g, drop_final_softmax=True).output == "dense4"


def test_errors_are_clear() -> None:
    d, g = digits(), mlp_64_32_10()
    with pytest.raises(ConfigError, match="calibration method"):
        quantize_model(g, d.train.x, method="kl")  # type: ignore[arg-type]
    b = et.GraphBuilder(4)
    s = b.node("softmax", [b.dense(b.input, 4)])
    g2 = b.build(b.dense(s, 2))
    with pytest.raises(ExportError, match="softmax"):
        quantize_model(g2, np.ones((3, 4), np.float32))
    with pytest.raises(et.InvalidModelError, match="quantization"):
        from_graph(g)
    with pytest.raises(et.DataError):
        quantize_model(g, np.full((2, 64), np.nan, np.float32))

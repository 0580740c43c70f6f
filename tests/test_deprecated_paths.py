"""Old import paths and keyword names keep working: the same objects as the new home, with a
DeprecationWarning that points at the caller."""
from __future__ import annotations

import importlib
import warnings

import pytest

# old module -> (new module, a name both hand out)
MOVED = {
    "edgetrain.export.onnx": ("edgetrain.interop.onnx", "build_inference_model"),
    "edgetrain.export.onnx.bundle": ("edgetrain.interop.onnx.bundle", "export_onnx"),
    "edgetrain.export.onnx.check": ("edgetrain.interop.onnx.check", "check_onnx"),
    "edgetrain.export.onnx.common": ("edgetrain.interop.onnx.common", "OnnxBuilder"),
    "edgetrain.export.onnx.emitters": ("edgetrain.interop.onnx.emitters", "EMITTERS"),
    "edgetrain.export.onnx.exportable": ("edgetrain.interop.onnx.exportable", "check_exportable"),
    "edgetrain.export.onnx.importer": ("edgetrain.interop.onnx.importer", "import_onnx"),
    "edgetrain.export.onnx.inference": ("edgetrain.interop.onnx.inference", "build_inference_model"),
    "edgetrain.export.onnx.ort_training": ("edgetrain.interop.onnx.ort_training", "load_ort_training"),
    "edgetrain.export.onnx.train_step": ("edgetrain.interop.onnx.train_step", "build_train_step"),
    "edgetrain.quantize.lowering": ("edgetrain.transforms.lowering", "lower_graph"),
    "edgetrain.export.c.reorder": ("edgetrain.transforms.reorder", "sort_units_by_fan_in"),
    "edgetrain.formats.quant": ("edgetrain.quantize.int8", "quantize_multiplier"),
    "edgetrain.run": ("edgetrain.train_run", "train_from_config"),
    "edgetrain.cli.commands_core": ("edgetrain.model_report", "sparse_rows"),
    "edgetrain.emulate": ("edgetrain.device", "run_firmware"),
    "edgetrain.emulate.base": ("edgetrain.device.firmware", "Firmware"),
    "edgetrain.emulate.build": ("edgetrain.device.build", "build_firmware"),
    "edgetrain.emulate.exchange": ("edgetrain.device.exchange", "read_outputs"),
    "edgetrain.emulate.host": ("edgetrain.device.host", "command"),
    "edgetrain.emulate.qemu": ("edgetrain.device.qemu", "command"),
    "edgetrain.emulate.run": ("edgetrain.device.run", "emulate"),
    "edgetrain.finetune": ("edgetrain.device.finetune", "finetune_on_device"),
    "edgetrain.verify": ("edgetrain.device.verify", "emulate_model"),
}


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_module_hands_out_the_new_objects_with_a_warning(old: str) -> None:
    new, name = MOVED[old]
    shim = importlib.import_module(old)
    with pytest.warns(DeprecationWarning, match=new.replace(".", r"\.")) as record:
        value = getattr(shim, name)
    assert value is getattr(importlib.import_module(new), name)
    assert record[0].filename == __file__  # the warning names the line that used the old path


def test_from_import_of_an_old_path_warns() -> None:
    with pytest.warns(DeprecationWarning):
        from edgetrain.export.onnx.importer import import_onnx
    from edgetrain.interop.onnx.importer import import_onnx as new
    assert import_onnx is new


@pytest.mark.parametrize("name", ["Lowered", "Step", "lower_graph"])
def test_quantize_still_hands_out_the_lowering(name: str) -> None:
    import edgetrain.quantize as q
    import edgetrain.transforms as t

    with pytest.warns(DeprecationWarning, match="transforms"):
        assert getattr(q, name) is getattr(t, name)
    with pytest.raises(AttributeError):
        q.no_such_name  # noqa: B018


def test_old_module_refuses_unknown_names() -> None:
    shim = importlib.import_module("edgetrain.export.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="interop"):
            shim.no_such_name  # noqa: B018
        with pytest.raises(AttributeError):
            shim.__wrapped__  # noqa: B018


@pytest.mark.parametrize("module, old", [("edgetrain.ops", "Dense"), ("edgetrain.ops.dense", "Dense"),
                                         ("edgetrain.ops.activations", "ReLU"), ("edgetrain.ops", "Add"),
                                         ("edgetrain.ops.structural", "Flatten")])
def test_op_classes_answer_to_their_old_names(module: str, old: str) -> None:
    mod = importlib.import_module(module)
    with pytest.warns(DeprecationWarning, match=f"{old}Op"):
        assert getattr(mod, old) is getattr(mod, f"{old}Op")
    import edgetrain as et
    from edgetrain.layers import Dense

    assert et.Dense is Dense  # the public name stays the layer spec


def test_emulate_model_takes_the_old_fallback_keyword() -> None:
    import numpy as np

    import edgetrain as et
    from edgetrain.errors import ConfigError
    from edgetrain.device import emulate_model

    g = et.Sequential([et.Dense(3)], 4, seed=0)
    x = np.zeros((2, 4), np.float32)
    # int8 without calibration samples fails after the keywords are read, before anything is built.
    with pytest.warns(DeprecationWarning, match="fallback_host"), pytest.raises(ConfigError):
        emulate_model(g, "stm32f405", x, dtype="int8", fallback_to_host=True)
    with pytest.raises(TypeError, match="both"):
        emulate_model(g, "stm32f405", x, dtype="int8", fallback_to_host=True, fallback_host=True)
    with pytest.raises(TypeError, match="unexpected keyword argument 'no_such'"):
        emulate_model(g, "stm32f405", x, no_such=1)

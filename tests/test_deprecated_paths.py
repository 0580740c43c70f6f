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

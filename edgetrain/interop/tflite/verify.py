"""Running a .tflite in TensorFlow Lite Micro's own interpreter (the `tflite-micro` package, TFLM's
reference kernels) and in LiteRT's reference op resolver (`ai-edge-litert`): the independent
implementations the exported files are checked against. Both are optional (test) dependencies."""

from __future__ import annotations

import numpy as np


def tflite_micro_available() -> tuple[bool, str]:
    """(True, '') when TFLite Micro's interpreter imports, else (False, why)."""
    try:
        from tflite_micro.python.tflite_micro import runtime  # noqa: F401
    except Exception as e:  # noqa: BLE001 - any import failure means "not here"
        return False, f"the tflite-micro package is not importable ({type(e).__name__}: {e})"
    return True, ""


def litert_available() -> tuple[bool, str]:
    """(True, '') when LiteRT's interpreter imports, else (False, why)."""
    try:
        from ai_edge_litert.interpreter import Interpreter  # noqa: F401
    except Exception as e:  # noqa: BLE001
        return False, f"the ai-edge-litert package is not importable ({type(e).__name__}: {e})"
    return True, ""


def run_tflite_micro(data: bytes, inputs: np.ndarray) -> np.ndarray:
    """Outputs of TFLite Micro's interpreter, one invoke per sample (its tensors have batch 1);
    rows flattened."""
    from tflite_micro.python.tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(data)
    rows = []
    for sample in np.asarray(inputs):
        interp.set_input(np.ascontiguousarray(sample[None]), 0)
        interp.invoke()
        rows.append(np.array(interp.get_output(0)).reshape(-1))
    return np.stack(rows)


def run_litert(data: bytes, inputs: np.ndarray) -> np.ndarray:
    """Outputs of LiteRT with its reference kernels (BUILTIN_REF), one invoke per sample."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    i, o = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    rows = []
    for sample in np.asarray(inputs):
        interp.set_tensor(i, np.ascontiguousarray(sample[None]))
        interp.invoke()
        rows.append(np.array(interp.get_tensor(o)).reshape(-1))
    return np.stack(rows)

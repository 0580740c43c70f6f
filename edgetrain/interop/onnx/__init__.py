"""ONNX export and import.

- `build_inference_model` / `export_inference`: the graph as an opset-17 inference model.
- `build_train_step` / `export_train_step`: one optimisation step in standard ONNX ops.
- `export_ort_artifacts` / `ort_train`: ONNX Runtime on-device-training artifacts and a trainer
  over `onnxruntime.training.api` (loaded without torch).
- `import_onnx`: models from other exporters into a `Graph`.
- `export_onnx`: the directory writer behind ``edgetrain export onnx``.
"""

from __future__ import annotations

from .bundle import export_onnx
from .common import IR_VERSION, OPSET
from .importer import import_onnx
from .inference import build_inference_model, export_inference
from .ort_training import OrtTrainResult, export_ort_artifacts, load_ort_training, ort_train
from .train_step import TrainStep, build_train_step, export_train_step

__all__ = [
    "IR_VERSION",
    "OPSET",
    "OrtTrainResult",
    "TrainStep",
    "build_inference_model",
    "build_train_step",
    "export_inference",
    "export_onnx",
    "export_ort_artifacts",
    "export_train_step",
    "import_onnx",
    "load_ort_training",
    "ort_train",
]

"""TFLite interop without TensorFlow: `export_tflite` writes int8 and float32 .tflite files with
edgetrain's own integer model (`rules` holds one rule per op kind; `flatbuffer` the writer)."""
from .export import TFLiteExport, build_tflite, export_tflite

__all__ = ["TFLiteExport", "build_tflite", "export_tflite"]

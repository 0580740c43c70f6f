"""TFLite interop without TensorFlow: `export_tflite` writes int8 and float32 .tflite files with
edgetrain's own integer model (`rules` holds one rule per op kind; `flatbuffer` the writer);
`import_tflite` reads them back, and TensorFlow's, keeping their int8 quantization (`reader`
decodes and checks the file, `importer` converts)."""

from .export import TFLiteExport, build_tflite, export_tflite
from .importer import import_tflite

__all__ = ["TFLiteExport", "build_tflite", "export_tflite", "import_tflite"]

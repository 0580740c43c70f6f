"""Exporters: every backend reads the one `Graph` (ONNX in `export.onnx`; C firmware in `export.c`)."""

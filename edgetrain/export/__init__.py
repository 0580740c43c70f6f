"""Exporters to firmware: `export.c` turns the one `Graph` into C sources, a static memory plan and
on-device training code (ONNX lives in `edgetrain.interop.onnx`)."""

"""Exchange with other frameworks: `interop.onnx` exports ONNX (inference, a train step, ONNX
Runtime training artifacts) and imports ONNX models into a `Graph`."""

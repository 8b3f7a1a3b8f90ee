"""Exporters: ONNX, OpenVINO IR, TensorRT engines. The public entry point is `edgecnn.export(...)` (`exporters.api`)."""

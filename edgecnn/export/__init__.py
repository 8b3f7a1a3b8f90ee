"""Exporters: ONNX, OpenVINO IR, TensorRT engines."""

"""Exporters: ONNX, OpenVINO IR, TensorRT engines. `edgecnn.export(...)` calls `edgecnn.export.api.export`."""

from edgecnn._callable import callable_module

callable_module(__name__, "edgecnn.export.api:export")

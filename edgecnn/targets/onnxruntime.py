"""ONNX Runtime on this machine's CPU: QDQ U8S8 int8 (the format its x86 VNNI and ARM kernels run fast)."""

from __future__ import annotations

from edgecnn.artifact import Artifact
from edgecnn.targets.base import U8S8, Target, Validation


class OnnxRuntimeTarget(Target):
    name = "onnxruntime"
    quant = U8S8
    export_format = "onnx"
    backend = "onnxruntime"
    device = "cpu"
    description = "ONNX Runtime on the CPU (QDQ U8S8 int8)"
    default_for_formats = ("onnx",)
    runs_on_agent = True

    def validation(self, deployable: Artifact, optimized: Artifact) -> Validation:
        return Validation(optimized, "onnxruntime", "onnxruntime")

    def remote_backend(self, model_format: str | None) -> str:
        return "onnxruntime"


TARGET = OnnxRuntimeTarget()

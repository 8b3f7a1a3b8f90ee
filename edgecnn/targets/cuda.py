"""An NVIDIA GPU through ONNX Runtime's CUDA execution provider (exported files) or PyTorch (eager models)."""

from __future__ import annotations

from pathlib import Path

from edgecnn.artifact import Artifact
from edgecnn.targets.base import S8S8_SYMMETRIC, Compiled, Target, Validation
from edgecnn.targets.tensorrt import simulated_qdq_validation


class CudaTarget(Target):
    name = "cuda"
    quant = S8S8_SYMMETRIC
    export_format = "onnx"
    backend = "onnxruntime"
    device = "cuda"
    description = "PyTorch / ONNX Runtime CUDA (fp16/bf16)"
    fixed_activation_format = True

    def compile(self, baseline: Artifact, optimized: Artifact, out: Path, *, device: str | None = None) -> Compiled:
        import onnxruntime as ort

        if "CUDAExecutionProvider" not in ort.get_available_providers():
            return Compiled(
                baseline,
                optimized,
                None,
                not_done=[
                    "latency on CUDA not measured: ONNX Runtime has no CUDA execution provider here "
                    "(needs an NVIDIA GPU and `pip install onnxruntime-gpu`); run the same command there"
                ],
            )
        return Compiled(baseline, optimized, "cuda")

    def validation(self, deployable: Artifact, optimized: Artifact) -> Validation:
        return simulated_qdq_validation(self, deployable, optimized)

    def timing(self, model_format: str | None) -> tuple[str, str]:
        # a PyTorch model runs eagerly on the GPU; an exported file in ONNX Runtime's CUDA execution provider
        return ("torch" if model_format in ("pytorch", "torchscript") else "onnxruntime"), "cuda"

    def quantize_as(self, precision: str) -> str:
        # an int8 file timed here runs in ONNX Runtime: quantize it with ONNX Runtime's profile
        return "onnxruntime" if precision == "int8" else self.name


TARGET = CudaTarget()

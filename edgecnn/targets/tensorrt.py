"""TensorRT on an NVIDIA GPU: explicit quantization (QDQ, symmetric int8, zero-point 0), engines built on the GPU
that runs them. Without TensorRT or a GPU here, the TensorRT-ready ONNX is the deliverable and the report says
how to build the engine on the device."""

from __future__ import annotations

from pathlib import Path

from edgecnn.artifact import Artifact
from edgecnn.targets.base import CONVERTERS, S8S8_SYMMETRIC, Compiled, Target, Validation

# ORT's fused S8S8 CPU kernels saturate without VNNI: compute each Q/DQ as written, as TensorRT does
SIMULATED = "onnxruntime with Q/DQ simulated in float (the target runtime is elsewhere)"


def simulated_qdq_validation(target: Target, deployable: Artifact, optimized: Artifact) -> Validation:
    """An int8 model for a GPU runtime is checked with every Q/DQ computed in float (see the onnxruntime
    backend's `simulate_qdq`); other precisions run in ONNX Runtime on this CPU."""
    if optimized.precision == "int8":
        return Validation(optimized, "onnxruntime", SIMULATED, {"simulate_qdq": True})
    return Target.validation(target, deployable, optimized)


class TensorRTTarget(Target):
    name = "tensorrt"
    quant = S8S8_SYMMETRIC
    export_format = "tensorrt"
    backend = "tensorrt"
    device = "cuda"
    description = "TensorRT engine on an NVIDIA GPU (explicit QDQ, symmetric int8)"
    default_for_formats = ("tensorrt",)
    times_onnx_here = False  # it times engines, built on their GPU
    fixed_activation_format = True
    keeps_removable_activations = True

    def compile(self, baseline: Artifact, optimized: Artifact, out: Path, *, device: str | None = None) -> Compiled:
        build = CONVERTERS.get("tensorrt")
        engine = build(optimized.path, out / "tensorrt" / "model.engine", precision=optimized.precision)
        if engine.provenance.get("engine_built"):
            base = build(baseline.path, out / "tensorrt" / "baseline.engine", precision="fp32")
            return Compiled(base, engine, "cuda")
        commands = engine.provenance.get("build_commands") or {}
        return Compiled(
            baseline,
            engine,
            None,
            not_done=[
                f"no TensorRT engine built: {engine.provenance.get('why_not_built')}. The TensorRT-ready QDQ "
                f"ONNX ({engine.path}) passed the explicit-quantization rules check; on the GPU device run: "
                + " | or: ".join(str(c) for c in (commands.values() if isinstance(commands, dict) else commands)),
                "latency on TensorRT not measured (needs the engine on its GPU); fidelity below was "
                "checked with ONNX Runtime on the CPU",
            ],
        )

    def validation(self, deployable: Artifact, optimized: Artifact) -> Validation:
        return simulated_qdq_validation(self, deployable, optimized)


TARGET = TensorRTTarget()

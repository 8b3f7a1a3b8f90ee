"""OpenVINO on this machine's CPU: IR converted from the QDQ ONNX (or quantized by NNCF)."""

from __future__ import annotations

from pathlib import Path

from edgecnn.artifact import Artifact
from edgecnn.targets.base import CONVERTERS, U8S8, Compiled, Target, Validation


class OpenVinoTarget(Target):
    name = "openvino"
    quant = U8S8
    export_format = "openvino"
    backend = "openvino"
    device = "cpu"
    description = "OpenVINO on the CPU (IR from QDQ ONNX, or NNCF)"
    default_for_formats = ("openvino",)
    runs_on_agent = True
    int8_routes = ("nncf",)  # NNCF on ov.convert_model(torch): about 2x faster than the QDQ route on SE/h-swish nets

    def compile(self, baseline: Artifact, optimized: Artifact, out: Path, *, device: str | None = None) -> Compiled:
        convert = CONVERTERS.get("openvino")
        return Compiled(
            convert(baseline.path, out / "openvino" / "baseline.xml"),
            convert(optimized.path, out / "openvino" / "model.xml"),
            "cpu",
        )

    def validation(self, deployable: Artifact, optimized: Artifact) -> Validation:
        return Validation(deployable, "openvino", "openvino")

    def remote_backend(self, model_format: str | None) -> str:
        return "openvino"


TARGET = OpenVinoTarget()

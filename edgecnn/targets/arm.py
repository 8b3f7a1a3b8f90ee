"""An aarch64 device running ONNX Runtime (QDQ U8S8) behind the edgecnn agent; timed there, checked here."""

from __future__ import annotations

from pathlib import Path

from edgecnn.artifact import Artifact
from edgecnn.targets.base import U8S8, Compiled, Target


class ArmTarget(Target):
    name = "arm"
    quant = U8S8
    export_format = "onnx"
    backend = "remote"
    device = "remote"
    description = "ONNX Runtime on an aarch64 device through the edgecnn agent (QDQ U8S8)"
    runs_on_agent = True
    device_arch = ("aarch64", "arm")
    times_onnx_here = False  # timed on the device, through the agent

    def compile(self, baseline: Artifact, optimized: Artifact, out: Path, *, device: str | None = None) -> Compiled:
        return Compiled(
            baseline, optimized, device, notes=[f"measured on the device at {device} through the edgecnn agent"]
        )


TARGET = ArmTarget()

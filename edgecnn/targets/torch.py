"""PyTorch eager on this machine: the float reference. Profiling and evaluation run it; nothing is compiled or
quantized for it, so it is not in `TARGETS` (`get_target(name, reference=True)` finds it)."""

from __future__ import annotations

from edgecnn.targets.base import Target


class TorchTarget(Target):
    name = "torch"
    quant = None  # type: ignore[assignment]  # nothing is quantized for PyTorch eager
    export_format = "pytorch"  # type: ignore[assignment]
    backend = "torch"
    device = "cpu"
    description = "PyTorch eager on this machine (the float reference)"
    default_for_formats = ("pytorch", "torchscript")


TARGET = TorchTarget()

"""`edgecnn trt-rules FILE.onnx`: check a QDQ model against TensorRT's explicit-quantization rules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgecnn.cli.console import say
from edgecnn.errors import InvalidInputError
from edgecnn.exporters.trt_rules import check_tensorrt_qdq


def trt_rules_cmd(onnx_file: Annotated[Path, typer.Argument(help="A QDQ ONNX model.", show_default=False)]) -> None:
    """Check a QDQ ONNX model against TensorRT's explicit-quantization rules (exit 2 if it breaks them)."""

    if not onnx_file.exists():
        raise InvalidInputError(f"ONNX model not found: {onnx_file}")
    report = check_tensorrt_qdq(onnx_file)
    say(report.summary(), style="green")
    for rule, nodes in report.warnings.items():
        say(f"{rule} ({len(nodes)}x, e.g. {nodes[0]})", prefix="[yellow]warning[/]: ")

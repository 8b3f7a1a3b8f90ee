"""Artifact: a model file on disk with what it is (format, precision, target, IO) and where it came from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from edgecnn.errors import InvalidInputError
from edgecnn.fileio import sha256_file

Format = Literal["onnx", "openvino", "tensorrt", "torchscript", "pytorch"]
Precision = Literal["fp32", "fp16", "bf16", "int8", "mixed"]

_SUFFIX_FORMAT = {
    ".onnx": "onnx",
    ".xml": "openvino",
    ".engine": "tensorrt",
    ".plan": "tensorrt",
    ".pt": "torchscript",
    ".ts": "torchscript",
}


@dataclass
class Artifact:
    path: Path
    format: Format
    precision: Precision = "fp32"
    target: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    @classmethod
    def from_path(cls, path: str | Path, **kw: Any) -> Artifact:
        """Wrap an existing model file, inferring its format from the suffix."""
        path = Path(path)
        if not path.exists():
            raise InvalidInputError(f"artifact not found: {path}")
        if path.is_dir() and path.suffix.lower() in (".onnx", ".engine", ".plan", ".pt", ".ts", ".xml"):
            raise InvalidInputError(f"{path} is a directory, not a model file")
        fmt = kw.pop("format", None) or _SUFFIX_FORMAT.get(path.suffix.lower())
        if fmt is None:
            raise InvalidInputError(f"cannot tell the format of {path} (expected one of {', '.join(_SUFFIX_FORMAT)})")
        if fmt == "onnx":
            precision = _onnx_precision(path)  # also checks that the file is a readable ONNX model
            kw.setdefault("precision", precision)
        return cls(path=path, format=fmt, **kw)

    @property
    def files(self) -> list[Path]:
        """Every file the artifact consists of (OpenVINO .xml + .bin, ONNX + external data)."""
        out = [self.path]
        if self.format == "openvino":
            out.append(self.path.with_suffix(".bin"))
        data = self.path.with_name(self.path.name + ".data")
        if self.format == "onnx" and data.exists():
            out.append(data)
        return [p for p in out if p.exists()]

    def sha256(self) -> str:
        return sha256_file(self.path)

    @property
    def bytes(self) -> int:
        return sum(p.stat().st_size for p in self.files)

    def to_dict(self, role: str | None = None) -> dict[str, Any]:
        d = {
            "path": str(self.path),
            "format": self.format,
            "precision": self.precision,
            "target": self.target,
            "sha256": self.sha256() if self.path.exists() else None,
            "bytes": self.bytes if self.path.exists() else None,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "provenance": self.provenance,
        }
        if role:
            d = {"role": role, **d}
        return d

    def __str__(self) -> str:
        return json.dumps(self.to_dict(), default=str)


def load_onnx_model(path: str | Path, *, load_external_data: bool = False) -> Any:
    """`onnx.load` for a file a user gave: a corrupt, truncated or empty file is an InvalidInputError."""
    import onnx

    path = Path(path)
    if path.is_dir():
        raise InvalidInputError(f"{path} is a directory, not an ONNX model file")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path} is empty: not a valid ONNX model")
    try:
        model = onnx.load(str(path), load_external_data=load_external_data)
    except Exception as exc:  # protobuf's DecodeError, or a missing external-data file
        reason = str(exc).split("\n")[0] or type(exc).__name__
        raise InvalidInputError(f"{path} is not a valid ONNX model (corrupt or truncated file: {reason})") from None
    if not model.graph.node or not model.graph.input or not model.graph.output:
        raise InvalidInputError(f"{path} is not a valid ONNX model: it has no graph (corrupt, truncated or empty file)")
    return model


def _onnx_precision(path: Path) -> Precision:
    """Guess precision from the graph: QDQ nodes mean int8, fp16 initializers mean fp16."""
    import onnx

    model = load_onnx_model(path)
    ops = {n.op_type for n in model.graph.node}
    if "QuantizeLinear" in ops or "QLinearConv" in ops or "ConvInteger" in ops:
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"

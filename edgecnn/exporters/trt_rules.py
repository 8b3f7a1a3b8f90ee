"""Check a QDQ ONNX model against TensorRT's explicit-quantization rules, before any GPU is involved.

TensorRT builds engines only on the device that runs them, so a model that breaks its rules is otherwise
found out late, on the device. The rules (TensorRT developer guide, "Explicit Quantization"):
- int8 is symmetric: every Q/DQ zero-point is int8 and 0 (a missing zero-point means uint8 in ONNX);
- scales are build-time constants, positive and finite;
- per-channel quantization is for weights only, along the output-channel axis (0 for Conv and for Gemm
  with transB=1, 1 for ConvTranspose and for MatMul/Gemm weights stored as [in, out]); activations are
  per-tensor;
- a QuantizeLinear feeds DequantizeLinear nodes only, and a DequantizeLinear reads a QuantizeLinear or
  an int8 constant; weights stay in [-127, 127].
Hand-written because no library checks these rules offline (Polygraphy needs TensorRT itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import InvalidInputError
from edgecnn.onnx_graph import GraphIndex

_COMPUTE = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
_QDQ = {"QuantizeLinear", "DequantizeLinear"}


class TensorRTRulesError(InvalidInputError):
    """The QDQ model cannot be built by TensorRT as an explicitly quantized (int8) engine."""


@dataclass
class TensorRTRulesReport:
    errors: dict[str, list[str]] = field(default_factory=dict)  # rule -> offending nodes
    warnings: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.ok:
            return (
                f"TensorRT explicit-quantization rules: OK ({self.stats.get('qdq_nodes', 0)} Q/DQ nodes, "
                f"{self.stats.get('quantized_compute', 0)} of {self.stats.get('compute', 0)} "
                "conv/matmul layers in int8)"
            )
        parts = [f"{rule} ({len(nodes)}x, e.g. {nodes[0]})" for rule, nodes in self.errors.items()]
        return "the model breaks TensorRT's explicit-quantization rules: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": self.errors, "warnings": self.warnings, "stats": self.stats}


def check_tensorrt_qdq(model: Any, *, raise_on_error: bool = True) -> TensorRTRulesReport:
    """Check an ONNX model (ModelProto or path) against TensorRT's explicit-quantization rules."""
    import onnx

    if isinstance(model, (str, Path)):
        model = onnx.load(str(model))
    graph = model.graph
    index = GraphIndex(graph)
    consts = index.constants()
    report = TensorRTRulesReport()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    qdq_nodes = [n for n in graph.node if n.op_type in _QDQ]
    if not qdq_nodes:
        _add(
            report.errors,
            "no QuantizeLinear/DequantizeLinear nodes: not an explicitly quantized (QDQ) model",
            graph.name or "graph",
        )
    if qdq_nodes and opset < 13:
        _add(report.errors, f"opset {opset} < 13: TensorRT needs opset 13+ for Q/DQ with axis", graph.name or "graph")
    for node in qdq_nodes:
        _check_qdq_node(node, consts, index, report)
    _check_placement(index, report)
    report.stats["qdq_nodes"] = len(qdq_nodes)
    if raise_on_error and not report.ok:
        raise TensorRTRulesError(report.summary())
    return report


def _check_qdq_node(node, consts, index: GraphIndex, report: TensorRTRulesReport) -> None:
    label = f"{node.op_type} '{node.name or node.output[0]}'"
    scale_name = node.input[1] if len(node.input) > 1 else ""
    scale = consts.get(scale_name)
    if scale is None:
        _add(report.errors, "scale is not a constant (TensorRT needs build-time scales)", label)
    elif not (np.all(np.isfinite(scale)) and np.all(scale > 0)):
        _add(report.errors, "scale is not positive and finite", label)
    zp_name = node.input[2] if len(node.input) > 2 else ""
    zero_point = consts.get(zp_name) if zp_name else None
    if not zp_name:
        if node.op_type == "QuantizeLinear" and not _has_int8_output_dtype(node):
            _add(
                report.errors,
                "no zero-point given, which makes it uint8 (TensorRT needs int8 with zero-point 0)",
                label,
            )
    elif zero_point is None:
        _add(report.errors, "zero-point is not a constant", label)
    elif zero_point.dtype == np.int32:
        _add(
            report.errors,
            "int32 Q/DQ (a quantized bias): TensorRT has no int32 Q/DQ, keep biases in float "
            "(ONNX Runtime: extra_options QuantizeBias=False)",
            label,
        )
    else:
        if zero_point.dtype != np.int8:
            _add(
                report.errors,
                f"zero-point is {zero_point.dtype}, not int8 (TensorRT int8 is signed and symmetric)",
                label,
            )
        if np.any(zero_point != 0):
            first = int(zero_point[zero_point != 0].flat[0])
            _add(report.errors, f"zero-point is not 0 (asymmetric; first non-zero value {first})", label)
    per_channel = scale is not None and scale.size > 1
    data = node.input[0]
    weight = consts.get(data) if node.op_type == "DequantizeLinear" else _weight_behind_quantize(node, consts)
    if per_channel:
        if weight is None:
            _add(
                report.errors, "per-channel scales on an activation (TensorRT quantizes activations per tensor)", label
            )
        else:
            _check_axis(node, weight, scale, index, report, label)
    if node.op_type == "QuantizeLinear":
        outs = index.consumers(node.output[0])
        if node.output[0] in index.outputs or not outs or any(c.op_type != "DequantizeLinear" for c in outs):
            _add(
                report.errors,
                "QuantizeLinear not followed only by DequantizeLinear (TensorRT needs Q->DQ pairs)",
                label,
            )
    else:
        source = index.producer(data)
        if weight is None and (source is None or source.op_type != "QuantizeLinear"):
            _add(report.errors, "DequantizeLinear reads neither a QuantizeLinear nor an int8 constant", label)
        if weight is not None and weight.dtype == np.int8 and np.any(weight == -128):
            _add(report.warnings, "int8 weight uses -128 (TensorRT's weight range is [-127, 127])", label)


def _check_axis(
    node, weight: np.ndarray, scale: np.ndarray, index: GraphIndex, report: TensorRTRulesReport, label: str
) -> None:
    axis = _attr(node, "axis", 1)
    axis = axis + weight.ndim if axis < 0 else axis
    expected = _expected_weight_axis(node, weight.ndim, index)
    if expected is not None and axis != expected:
        _add(report.errors, f"per-channel weight axis is {axis}, expected {expected} (the output-channel axis)", label)
    elif axis < weight.ndim and scale.size != weight.shape[axis]:
        _add(report.errors, f"{scale.size} scales for {weight.shape[axis]} channels on axis {axis}", label)


def _expected_weight_axis(node, ndim: int, index: GraphIndex) -> int | None:
    """The output-channel axis of the weight a (Q)DQ chain feeds, from the compute node that reads it."""
    frontier = [node.output[0]]
    for _ in range(3):  # weight -> Q -> DQ -> compute at most
        nxt = []
        for name in frontier:
            for user in index.consumers(name):
                if user.op_type == "Conv":
                    return 0
                if user.op_type == "ConvTranspose":
                    return 1
                if user.op_type == "Gemm":
                    return 0 if _attr(user, "transB", 0) else 1
                if user.op_type == "MatMul":
                    return ndim - 1
                nxt.extend(user.output)
        frontier = nxt
    return None


def _check_placement(index: GraphIndex, report: TensorRTRulesReport) -> None:
    """Count conv/matmul layers TensorRT can run in int8: both data and weight must come through DQ."""
    graph = index.graph
    compute = quantized = 0
    for node in graph.node:
        if node.op_type not in _COMPUTE:
            continue
        compute += 1
        via_dq = [_from_dq(name, index) for name in node.input[:2]]
        if all(via_dq):
            quantized += 1
        elif any(via_dq):
            which = "weight" if via_dq[0] else "input"
            _add(
                report.warnings,
                f"only one side quantized ({which} not through Q/DQ): TensorRT runs it in float",
                f"{node.op_type} '{node.name}'",
            )
    report.stats.update(compute=compute, quantized_compute=quantized)
    if compute and not quantized:
        _add(
            report.warnings,
            "no conv/matmul layer has quantized inputs: the engine would run in float",
            graph.name or "graph",
        )


def _from_dq(name: str, index: GraphIndex) -> bool:
    node = index.producer(name)
    # a transpose/reshape of a dequantized weight still counts (TensorRT folds it into the weight)
    while node is not None and node.op_type in ("Transpose", "Reshape", "Identity"):
        node = index.producer(node.input[0])
    return node is not None and node.op_type == "DequantizeLinear"


def _weight_behind_quantize(node, consts) -> np.ndarray | None:
    value = consts.get(node.input[0])
    return value if value is not None and value.dtype.kind == "f" else None


def _has_int8_output_dtype(node) -> bool:
    import onnx

    return _attr(node, "output_dtype", 0) == onnx.TensorProto.INT8


def _attr(node, name: str, default: int) -> int:
    for attr in node.attribute:
        if attr.name == name:
            return int(attr.i)
    return default


def _add(bucket: dict[str, list[str]], rule: str, where: str) -> None:
    bucket.setdefault(rule, []).append(where)

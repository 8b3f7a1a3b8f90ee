"""Empirical bias correction (Nagel et al. 2019, sec. 4.2) for a QDQ model, as an ONNX pass.

Rounding weights to int8 shifts each layer's mean output by E[conv(x, W_q - W)]. It is measured on the
calibration data: W_q is read back from the QDQ model's DequantizeLinear, and a twin of each layer with
the weight error as its weight runs on the layer's real fp32 input (padding and borders included).
Subtracting the shift from the fp32 bias and quantizing again (ranges reused from the cache) removes
it. Each shift comes from the layer's own weight error and fp32 input, so corrections do not compound.

Done at the ONNX level because that is where W_q exists: the quantized weights are the ones ONNX
Runtime chose (per-channel scales, reduce_range), not a torch re-implementation of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.onnx_graph import GraphIndex

MAX_SAMPLES = 64


def correct_biases(
    fp32_prepared: str | Path, qdq_path: str | Path, calib: np.ndarray, out_fp32: str | Path
) -> dict[str, Any]:
    """Write `out_fp32`: `fp32_prepared` with each quantized Conv/Gemm bias corrected for its weight error."""
    import onnx
    from onnx import numpy_helper

    fp32 = onnx.load(str(fp32_prepared))
    weight_q = _dequantized_weights(onnx.load(str(qdq_path)))
    index = GraphIndex(fp32.graph)
    inits = index.initializers
    nodes = [n for n in fp32.graph.node if n.name in weight_q and n.op_type in ("Conv", "Gemm")]
    errors = {n.name: weight_q[n.name] - numpy_helper.to_array(inits[n.input[1]]).astype(np.float64) for n in nodes}
    shifts = _output_shifts(fp32, nodes, errors, calib[:MAX_SAMPLES])
    for node in nodes:
        delta = shifts[node.name]
        bias_name = _ensure_bias(index, node, len(delta))
        bias = numpy_helper.to_array(inits[bias_name]).astype(np.float64) - delta
        inits[bias_name].CopyFrom(numpy_helper.from_array(bias.astype(np.float32), bias_name))
    onnx.save(fp32, str(out_fp32))
    peaks = [float(np.abs(d).max()) for d in shifts.values()]
    return {
        "layers_corrected": len(nodes),
        "samples": int(min(len(calib), MAX_SAMPLES)),
        "max_abs_shift": max(peaks, default=0.0),
        "mean_abs_shift": float(np.mean(peaks)) if peaks else 0.0,
    }


def _dequantized_weights(qdq: Any) -> dict[str, np.ndarray]:
    """node name -> float weights as the int8 model computes them ((q - zero_point) * scale, per channel)."""
    from onnx import numpy_helper

    index = GraphIndex(qdq.graph)

    def const(name: str) -> np.ndarray:
        return numpy_helper.to_array(index.initializers[name]).astype(np.float64)

    out = {}
    for node in qdq.graph.node:
        dq = index.producer(node.input[1], "DequantizeLinear") if len(node.input) > 1 else None
        if node.op_type not in ("Conv", "Gemm") or dq is None:
            continue
        if dq.input[0] not in index.initializers:
            continue
        q = const(dq.input[0])
        scale = const(dq.input[1])
        zp = const(dq.input[2]) if len(dq.input) > 2 and dq.input[2] else np.zeros_like(scale)
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        out[node.name] = (q - zp) * scale
    return out


def _output_shifts(model: Any, nodes: list[Any], errors: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-output-channel mean of each layer applied, without bias, to its weight error on its real fp32 input.

    Each layer gets a twin node (same op and attributes, weight = W_q - W) beside it in a copy of the fp32
    graph, so padding, strides and groups are handled exactly by the runtime instead of approximated.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = []
    for node in nodes:
        weight, out = f"{node.name}__weight_error", f"{node.name}__shift"
        probe.graph.initializer.append(numpy_helper.from_array(errors[node.name].astype(np.float32), weight))
        twin = onnx.helper.make_node(node.op_type, [node.input[0], weight], [out], name=f"{node.name}__twin")
        twin.attribute.extend(a for a in node.attribute if a.name != "beta")
        probe.graph.node.append(twin)
        probe.graph.output.append(onnx.helper.make_tensor_value_info(out, onnx.TensorProto.FLOAT, None))
        names.append(out)
    sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    step = inp.shape[0] if isinstance(inp.shape[0], int) else 16
    usable = len(x) - len(x) % step
    sums: dict[str, Any] = {name: 0.0 for name in names}
    for start in range(0, usable, step):
        for name, value in zip(names, sess.run(names, {inp.name: x[start : start + step]})):
            per_sample = value.astype(np.float64).reshape(value.shape[0], value.shape[1], -1).mean(axis=2)
            sums[name] = sums[name] + per_sample.sum(axis=0)
    return {node.name: sums[name] / max(usable, 1) for node, name in zip(nodes, names)}


def _ensure_bias(index: GraphIndex, node: Any, channels: int) -> str:
    """The name of a bias initializer that only `node` reads, added (zeros) or unshared as needed."""
    from onnx import numpy_helper

    if len(node.input) > 2 and node.input[2]:
        name = node.input[2]
        if not index.shared(name):
            return name
        # the exporter dedups equal constants (e.g. zero biases): give this layer its own copy to correct
        private = f"{name}__{node.name or node.output[0]}"
        index.add_initializer(numpy_helper.to_array(index.initializers[name]).copy(), private)
        index.set_input(node, 2, private)
        return private
    name = f"{node.name or node.output[0]}_bias_corrected"
    index.add_initializer(np.zeros(channels, np.float32), name)
    index.set_input(node, 2, name)
    return name

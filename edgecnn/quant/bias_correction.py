"""Empirical bias correction (Nagel et al. 2019, sec. 4.2) for a QDQ model, as an ONNX pass.

Rounding weights to int8 shifts each layer's mean output by E[(W_q - W) x] = (W_q - W) E[x]. E[x], the
per-channel mean of the layer's input, is measured on the calibration data in the fp32 model; W_q is
read back from the QDQ model's DequantizeLinear. Subtracting the shift from the fp32 bias and
quantizing again (ranges reused from the cache) removes it. Each layer's shift is computed from its own
weight error and fp32 input, so corrections do not compound.

Done at the ONNX level because that is where W_q exists: the quantized weights are the ones ONNX
Runtime chose (per-channel scales, reduce_range), not a torch re-implementation of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MAX_SAMPLES = 64


def correct_biases(fp32_prepared: str | Path, qdq_path: str | Path, calib: np.ndarray, out_fp32: str | Path) -> dict[str, Any]:
    """Write `out_fp32`: `fp32_prepared` with each quantized Conv/Gemm bias corrected for its weight error."""
    import onnx
    from onnx import numpy_helper

    fp32 = onnx.load(str(fp32_prepared))
    qdq = onnx.load(str(qdq_path))
    weight_q = _dequantized_weights(qdq)
    nodes = [n for n in fp32.graph.node if n.name in weight_q and n.op_type in ("Conv", "Gemm")]
    means = _input_means(fp32, [n.input[0] for n in nodes], calib[:MAX_SAMPLES])
    inits = {t.name: t for t in fp32.graph.initializer}
    shifts = []
    for node in nodes:
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)
        delta = _output_shift(node, weight_q[node.name] - w, means[node.input[0]])
        bias_name = _ensure_bias(fp32, node, inits, len(delta))
        bias = numpy_helper.to_array(inits[bias_name]).astype(np.float64) - delta
        inits[bias_name].CopyFrom(numpy_helper.from_array(bias.astype(np.float32), bias_name))
        shifts.append(float(np.abs(delta).max()))
    onnx.save(fp32, str(out_fp32))
    return {"layers_corrected": len(nodes), "samples": int(min(len(calib), MAX_SAMPLES)),
            "max_abs_shift": max(shifts) if shifts else 0.0, "mean_abs_shift": float(np.mean(shifts)) if shifts else 0.0}


def _dequantized_weights(qdq: Any) -> dict[str, np.ndarray]:
    """node name -> float weights as the int8 model computes them ((q - zero_point) * scale, per channel)."""
    from onnx import numpy_helper

    inits = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    dq_by_output = {n.output[0]: n for n in qdq.graph.node if n.op_type == "DequantizeLinear"}
    out = {}
    for node in qdq.graph.node:
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 2 or node.input[1] not in dq_by_output:
            continue
        dq = dq_by_output[node.input[1]]
        if dq.input[0] not in inits:
            continue
        q = inits[dq.input[0]].astype(np.float64)
        scale = inits[dq.input[1]].astype(np.float64)
        zp = inits[dq.input[2]].astype(np.float64) if len(dq.input) > 2 and dq.input[2] else np.zeros_like(scale)
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and scale.size > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zp = scale.reshape(shape), zp.reshape(shape)
        out[node.name] = (q - zp) * scale
    return out


def _input_means(model: Any, tensors: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-channel (axis 1) means of the given tensors on `x`, from the fp32 model with them exposed."""
    import onnx
    import onnxruntime as ort

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    have = {o.name for o in exposed.graph.output}
    names = list(dict.fromkeys(tensors))
    for name in names:
        if name not in have:
            exposed.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    batch = sess.get_inputs()[0].shape[0]
    step = batch if isinstance(batch, int) else 16
    sums: dict[str, np.ndarray] = {}
    count = 0
    for start in range(0, len(x) - len(x) % step if isinstance(batch, int) else len(x), step):
        outs = sess.run(names, {in_name: x[start:start + step]})
        for name, value in zip(names, outs):
            axes = (0, *range(2, value.ndim))
            sums[name] = sums.get(name, 0) + value.astype(np.float64).mean(axis=axes) * len(value)
        count += step
    return {name: s / count for name, s in sums.items()}


def _output_shift(node: Any, dw: np.ndarray, mean_in: np.ndarray) -> np.ndarray:
    """(W_q - W) applied to the per-channel input mean: the mean output shift per output channel."""
    if node.op_type == "Gemm":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0)
        return dw @ mean_in if trans_b else mean_in @ dw
    groups = next((a.i for a in node.attribute if a.name == "group"), 1)
    per_in = dw.reshape(dw.shape[0], dw.shape[1], -1).sum(axis=2)  # (Cout, Cin/groups): padding ignored
    mean_grouped = mean_in.reshape(groups, dw.shape[1])
    group_of_out = np.arange(dw.shape[0]) // (dw.shape[0] // groups)
    return np.sum(per_in * mean_grouped[group_of_out], axis=1)


def _ensure_bias(model: Any, node: Any, inits: dict[str, Any], channels: int) -> str:
    from onnx import numpy_helper

    if len(node.input) > 2 and node.input[2]:
        return node.input[2]
    name = f"{node.name or node.output[0]}_bias_corrected"
    tensor = numpy_helper.from_array(np.zeros(channels, np.float32), name)
    model.graph.initializer.append(tensor)
    inits[name] = model.graph.initializer[-1]
    while len(node.input) < 2:
        node.input.append("")
    node.input.append(name)
    return name

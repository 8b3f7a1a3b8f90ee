"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization") on an fp32 ONNX graph.

For consecutive convolutions conv1 -> [ReLU] -> conv2, output channel i of conv1 is divided by s_i and
input channel i of conv2 multiplied by s_i, with s_i = sqrt(r1_i * r2_i) / r2_i, so both per-channel
weight ranges become sqrt(r1_i * r2_i). ReLU is positive-homogeneous (relu(x/s) = relu(x)/s), so the
function is unchanged while depthwise layers, whose channel ranges differ by orders of magnitude, lose
far less to per-tensor activation / per-channel weight quantization.

Written as an ONNX pass (not torch) because the graph is already BN-folded and simplified here, the
pass then works for ONNX files given by the user too, and no model-specific module walking is needed.
ReLU6 / Clip is not positive-homogeneous (its clip level would have to change per channel), so pairs
across it are skipped unless `relu6_as_relu=True`, which turns those Clips into ReLUs (the paper's
choice; it changes the function slightly when activations exceed 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecnn.onnx_graph import GraphIndex

HOMOGENEOUS = ("Relu", "LeakyRelu", "PRelu")


@dataclass(frozen=True)
class EqualizeConfig:
    iterations: int = 4  # chains (pw -> dw -> pw) converge over a few sweeps
    relu6_as_relu: bool = False


def equalize(model: Any, config: EqualizeConfig = EqualizeConfig()) -> tuple[Any, dict[str, Any]]:
    """Equalize every eligible conv pair of an onnx.ModelProto in place; returns (model, report)."""
    from onnx import numpy_helper

    index = GraphIndex(model.graph)
    inits = index.initializers
    weights = {name: numpy_helper.to_array(t).astype(np.float32) for name, t in inits.items()}
    pairs, clipped = _find_pairs(index, config.relu6_as_relu)
    _unshare(index, weights, [(c1, i) for c1, c2, _ in pairs for i in (1, 2)] + [(c2, 1) for _, c2, _ in pairs])
    spread_before = _median_spread(pairs, weights)
    for _ in range(config.iterations):
        for conv1, conv2, _act in pairs:
            _equalize_pair(conv1, conv2, weights)
    relu6 = [act for _, _, act in pairs if act is not None and act.op_type == "Clip"]
    for act in relu6:
        _clip_to_relu(act)
    touched = {n for c1, c2, _ in pairs for n in (*c1.input[1:3], c2.input[1])}
    for name in touched:
        inits[name].CopyFrom(numpy_helper.from_array(weights[name], name))
    return model, {
        "pairs": len(pairs),
        "skipped_relu6_pairs": clipped,
        "relu6_replaced": len(relu6),
        "median_channel_range_spread": {"before": spread_before, "after": _median_spread(pairs, weights)},
    }


def _unshare(index: GraphIndex, weights: dict[str, np.ndarray], uses: list[tuple[Any, int]]) -> None:
    """Give each scaled tensor a private initializer: the exporter dedups equal constants (e.g. zero biases)."""
    for node, slot in uses:
        if len(node.input) <= slot or not node.input[slot]:
            continue
        name = node.input[slot]
        if index.shared(name):
            private = f"{name}__{node.name or node.output[0]}"
            weights[private] = weights[name].copy()
            index.add_initializer(weights[private], private)
            index.set_input(node, slot, private)


def _find_pairs(index: GraphIndex, relu6_as_relu: bool) -> tuple[list[tuple[Any, Any, Any]], int]:
    inits = index.initializers

    def only_consumer(tensor: str) -> Any:
        users = index.consumers(tensor)
        return users[0] if len(users) == 1 and tensor not in index.outputs else None

    pairs, skipped = [], 0
    for conv1 in index.graph.node:
        if not _is_conv(conv1, inits):
            continue
        nxt = only_consumer(conv1.output[0])
        act = None
        if nxt is not None and (nxt.op_type in HOMOGENEOUS or _is_relu6(nxt, inits)):
            if nxt.op_type == "Clip" and not relu6_as_relu:
                skipped += 1
                continue
            act, nxt = nxt, only_consumer(nxt.output[0])
        if nxt is None or not _is_conv(nxt, inits) or nxt.input[0] != (act.output[0] if act else conv1.output[0]):
            continue
        if _compatible(conv1, nxt, inits):
            pairs.append((conv1, nxt, act))
    return pairs, skipped


def _is_conv(node: Any, inits: dict[str, Any]) -> bool:
    return (
        node.op_type == "Conv"
        and len(node.input) >= 2
        and node.input[1] in inits
        and (len(node.input) < 3 or node.input[2] in inits)
    )


def _group(node: Any) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


def _compatible(conv1: Any, conv2: Any, inits: dict[str, Any]) -> bool:
    """conv2 is a plain conv (group 1) or depthwise over exactly conv1's output channels."""
    out1 = inits[conv1.input[1]].dims[0]
    w2 = inits[conv2.input[1]].dims
    g2 = _group(conv2)
    if g2 == 1:
        return w2[1] == out1
    return g2 == out1 and w2[1] == 1 and w2[0] == out1


def _is_relu6(node: Any, inits: dict[str, Any]) -> bool:
    if node.op_type != "Clip" or len(node.input) < 3:
        return False
    from onnx import numpy_helper

    lo, hi = (inits.get(n) for n in node.input[1:3])
    return lo is not None and hi is not None and float(numpy_helper.to_array(lo)) == 0.0


def _clip_to_relu(node: Any) -> None:
    node.op_type = "Relu"
    del node.input[1:]


def _input_ranges(conv2: Any, w2: np.ndarray) -> np.ndarray:
    """Per-input-channel max |w| of conv2 (depthwise: its own channels)."""
    if _group(conv2) == 1:
        return np.abs(w2).max(axis=(0, *range(2, w2.ndim)))
    return np.abs(w2).reshape(len(w2), -1).max(axis=1)


def _equalize_pair(conv1: Any, conv2: Any, weights: dict[str, np.ndarray]) -> None:
    w1, w2 = weights[conv1.input[1]], weights[conv2.input[1]]
    r1 = np.abs(w1).reshape(len(w1), -1).max(axis=1)
    r2 = _input_ranges(conv2, w2)
    ok = (r1 > 0) & (r2 > 0)
    s = np.ones_like(r1)
    s[ok] = np.sqrt(r1[ok] * r2[ok]) / r2[ok]
    weights[conv1.input[1]] = w1 / s.reshape(-1, *([1] * (w1.ndim - 1)))
    if len(conv1.input) > 2 and conv1.input[2]:
        weights[conv1.input[2]] = weights[conv1.input[2]] / s
    if _group(conv2) == 1:
        weights[conv2.input[1]] = w2 * s.reshape(1, -1, *([1] * (w2.ndim - 2)))
    else:
        weights[conv2.input[1]] = w2 * s.reshape(-1, *([1] * (w2.ndim - 1)))


def _median_spread(pairs: list[tuple[Any, Any, Any]], weights: dict[str, np.ndarray]) -> float | None:
    """Median over the equalized convs of (largest / smallest non-zero per-output-channel weight range)."""
    spreads = []
    for conv1, _, _ in pairs:
        w = weights[conv1.input[1]]
        r = np.abs(w).reshape(len(w), -1).max(axis=1)
        r = r[r > 0]
        if len(r):
            spreads.append(float(r.max() / r.min()))
    return float(np.median(spreads)) if spreads else None

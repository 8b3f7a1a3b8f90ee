"""The one index of an ONNX graph (who produces and who reads each tensor, its constants, its data inputs) and
its topological sort.

The ONNX passes edit onnx protobufs in place (equalization's contract; bias correction builds a runtime probe
from a copy), so the index reads the protobuf graph itself, in one O(nodes + edges) sweep, and is kept current
by the two edits the passes make (`set_input`, `add_initializer`). A second representation (onnx-ir, ORT's
OnnxModel) would go stale on the first edit; ORT's OnnxModel also sorts in O(n^2) passes. The sort is onnx-ir's
(stable, O(n log n), subgraph-aware), round-tripped through its IR once.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class GraphIndex:
    """Producer and consumer maps, initializers and graph outputs of one onnx.GraphProto, built once."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph
        self.initializers: dict[str, Any] = {t.name: t for t in graph.initializer}
        self.outputs: set[str] = {o.name for o in graph.output}
        self._producers: dict[str, Any] = {}
        self._consumers: dict[str, list[Any]] = {}
        for node in graph.node:
            for name in node.output:
                if name:
                    self._producers[name] = node
            for name in node.input:
                if name:
                    self._consumers.setdefault(name, []).append(node)

    def producer(self, name: str, op_type: str | None = None) -> Any | None:
        """The node whose output is `name` (if it is an `op_type` node, when given); None for graph inputs,
        initializers and unknown names."""
        node = self._producers.get(name)
        return node if node is None or op_type is None or node.op_type == op_type else None

    def consumers(self, name: str) -> list[Any]:
        """The nodes reading `name`, once per input slot that reads it, in graph order."""
        return self._consumers.get(name, [])

    def shared(self, name: str) -> bool:
        """Whether more than one node reads `name`."""
        users = self.consumers(name)
        return any(user is not users[0] for user in users[1:])

    def set_input(self, node: Any, index: int, name: str) -> None:
        """Make input `index` of `node` read `name` (padding optional inputs with ""), keeping the index current."""
        while len(node.input) <= index:
            node.input.append("")
        old = node.input[index]
        if old:
            users = self._consumers[old]
            users.pop(next(i for i, user in enumerate(users) if user is node))
        node.input[index] = name
        if name:
            self._consumers.setdefault(name, []).append(node)

    def add_initializer(self, array: np.ndarray, name: str) -> Any:
        """Append `array` as initializer `name`; returns its TensorProto (the graph's own, editable)."""
        from onnx import numpy_helper

        self.graph.initializer.append(numpy_helper.from_array(array, name))
        self.initializers[name] = self.graph.initializer[-1]
        return self.initializers[name]

    def constants(self) -> dict[str, np.ndarray]:
        """Values known without running the graph: initializers and the outputs of Constant nodes (value=)."""
        from onnx import numpy_helper

        consts = {name: numpy_helper.to_array(t) for name, t in self.initializers.items()}
        for node in self.graph.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.name == "value":
                        consts[node.output[0]] = numpy_helper.to_array(attr.t)
        return consts


def data_inputs(graph: Any) -> list[Any]:
    """The graph inputs that are fed at run time (older exporters also list initializers as inputs)."""
    inits = {t.name for t in graph.initializer}
    return [value for value in graph.input if value.name not in inits]


def sort_topologically(model: Any) -> Any:
    """A copy of the onnx.ModelProto with every node after the producers of its inputs (subgraphs too).

    Stable: nodes already in order keep it. Raises ValueError on a cycle.
    """
    import onnx_ir as ir

    ir_model = ir.from_proto(model)
    ir_model.graph.sort()
    return ir.to_proto(ir_model)

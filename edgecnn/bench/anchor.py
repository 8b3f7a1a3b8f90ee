"""The reference workload: a fixed small conv net timed in every round next to the suite's cases.

On a shared machine whole runs can land in a slow state (another job saturating the cores or the SMT
sibling): every iteration of every case slows by 10-70%, and no statistic of the case's own timings can
tell that apart from a regression. The reference workload never changes, so its ratio to the baseline's
measures the machine, and `compare` will not call a slowdown a regression while the machine itself ran
clearly slower (see `edgecnn.bench.compare`). It is built here from seeded numpy weights (no file to ship,
same bytes every run) and runs on ONNX Runtime with one thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecnn.runtime import load_session

ANCHOR_ID = "reference-workload"
DESCRIPTION = "3x (Conv 3x3 16->16 + Relu) at 24x24, ONNX Runtime, 1 thread"
_SHAPE = (1, 16, 24, 24)


def write_anchor_model(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1234)
    nodes, inits, prev = [], [], "x"
    for i in range(3):
        w = (rng.standard_normal((16, 16, 3, 3)) * 0.1).astype(np.float32)
        b = (rng.standard_normal(16) * 0.01).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        nodes += [
            helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"c{i}"], [f"r{i}"]),
        ]
        prev = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "edgecnn_bench_reference",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(_SHAPE))],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, list(_SHAPE))],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgecnn.bench")
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def anchor_session(work_dir: Path):
    """(session, inputs) for the reference workload."""

    path = write_anchor_model(Path(work_dir) / "reference-workload.onnx")
    x = np.random.default_rng(0).standard_normal(_SHAPE).astype(np.float32)
    return load_session(path, backend="onnxruntime", threads=1), x

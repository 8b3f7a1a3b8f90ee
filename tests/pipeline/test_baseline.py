"""An honest baseline: `edgecnn optimize`'s float baseline is the plain fp32 export a user would make
(`torch.onnx.export` of the model in eval mode), so no speed-up is computed against a handicapped one.

What is compared is what ONNX Runtime runs: both files go through its own graph optimizations (the level the
profile times with, and the basic level), and the op-type multisets must match, up to names; the weights must
match (same initializer shapes, same outputs). The report names how the baseline was made and both sides were
timed with the same session options.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

FAST_PROFILE = {"min_iters": 5, "min_seconds": 0.02, "rounds": 2, "warmup": 1}
SHAPE = (1, 3, 64, 64)


def ort_graph(path: Path, tmp: Path, level: str) -> tuple[Counter, list[tuple[int, ...]], object]:
    """(op-type multiset, sorted initializer shapes, session) of the model as ONNX Runtime optimizes it."""
    import onnx
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    so.optimized_model_filepath = str(tmp / f"{path.stem}.{level}.onnx")
    session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    model = onnx.load(so.optimized_model_filepath)
    ops = Counter(n.op_type for n in model.graph.node)
    shapes = sorted(tuple(i.dims) for i in model.graph.initializer)
    return ops, shapes, session


@pytest.mark.parametrize("level", ["ORT_ENABLE_BASIC", "ORT_ENABLE_ALL"])
def test_the_baseline_is_the_plain_export_as_onnxruntime_runs_it(tmp_path, level):
    import torch

    import edgecnn

    recipe = {
        "model": {"name": "mobilenet_v2", "weights": "random", "input_shape": list(SHAPE)},
        "steps": [],
        "data": {"calib_size": 4},
        "profile": FAST_PROFILE,
        "bundle": False,
    }
    result = edgecnn.optimize(recipe=recipe, out_dir=tmp_path / "out")
    ours = result.artifacts["baseline"]

    spec = edgecnn.load_model("mobilenet_v2", weights="random", input_shape=SHAPE, seed=0)  # the run's seed
    plain = tmp_path / "plain.onnx"
    x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(1))
    torch.onnx.export(spec.module.eval(), (x,), str(plain), opset_version=ours.provenance["opset"], dynamo=False)

    ours_ops, ours_shapes, ours_session = ort_graph(ours.path, tmp_path, level)
    plain_ops, plain_shapes, plain_session = ort_graph(plain, tmp_path, level)
    assert ours_ops == plain_ops, f"ours {ours_ops} vs plain {plain_ops}"
    assert ours_shapes == plain_shapes
    feed = x.numpy()
    (got,) = ours_session.run(None, {ours_session.get_inputs()[0].name: feed})
    (want,) = plain_session.run(None, {plain_session.get_inputs()[0].name: feed})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)

    report = result.report
    assert "plain fp32 export of the original model in eval mode" in report["baseline"]["made"]
    assert "no edgecnn passes" in report["baseline"]["made"]
    session = report["baseline"]["session"]
    assert session["graph_optimization_level"] == "ORT_ENABLE_ALL" and session == report["optimized"]["session"]

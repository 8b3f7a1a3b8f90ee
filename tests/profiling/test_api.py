"""`edgecnn.profile`: side by side with the baseline, target inference, memory, roofline, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

import edgecnn
from edgecnn.artifact import Artifact
from edgecnn.errors import InvalidInputError, UnknownNameError
from edgecnn.profiling.timing import TimingProtocol

QUICK = TimingProtocol(warmup=2, min_iters=10, min_seconds=0.02, rounds=2, pause_s=0.0)


def test_onnx_against_its_pytorch_baseline_on_the_same_backend(lenet_spec, lenet_onnx_dynamic):
    r = edgecnn.profile(lenet_onnx_dynamic, baseline=lenet_spec, threads=1, protocol=QUICK)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["target"] == "onnxruntime" and d["backend"] == "onnxruntime"
    # the PyTorch baseline was exported and ran in ONNX Runtime too, so the outputs agree to float precision
    assert d["baseline"]["session"]["backend"] == "onnxruntime" and d["fidelity"]["max_abs_error"] < 1e-5
    assert d["speedup"] == pytest.approx(r.baseline.p50 / r.optimized.p50)
    for role in ("baseline", "optimized"):
        side = d[role]
        assert (
            side["iterations"] >= QUICK.min_iters
            and side["threads"] == 1
            and len(side["times_ms"]) == side["iterations"]
        )
        assert side["memory"]["weight_bytes"] > 200_000 and side["memory"]["session_peak_rss_bytes"] >= 0
        assert side["roofline"]["macs_per_item"] == 416_520 and side["roofline"]["pct_of_fp32_peak"] > 0
    assert d["optimized"]["memory"]["file_bytes"] == lenet_onnx_dynamic.path.stat().st_size
    assert d["environment"]["threads"] == 1 and d["environment"]["cpu"]
    assert [a["role"] for a in d["artifacts"]] == ["optimized", "baseline"]


def test_target_is_inferred_from_the_artifact(lenet_spec, lenet_onnx_dynamic, tmp_path):
    assert edgecnn.profile(lenet_spec, threads=1, protocol=QUICK, roofline=False).backend == "torch"
    r = edgecnn.profile(str(lenet_onnx_dynamic.path), threads=1, protocol=QUICK, roofline=False, batch=3)
    assert r.target == "onnxruntime" and r.optimized.batch == 3 and r.baseline is None
    assert any("no float baseline" in n for n in r.notes)


def test_provenance_baseline_is_used_when_none_is_given(lenet_onnx_dynamic, tmp_path):
    opt = Artifact(path=lenet_onnx_dynamic.path, format="onnx", provenance={"baseline": str(lenet_onnx_dynamic.path)})
    r = edgecnn.profile(opt, threads=1, protocol=QUICK, roofline=False)
    assert r.baseline is not None and r.fidelity["max_abs_error"] == 0.0


def test_real_inputs_are_used_as_given(lenet_spec, lenet_onnx_dynamic):
    x = np.random.default_rng(3).standard_normal((2, 1, 32, 32)).astype(np.float32)
    r = edgecnn.profile(lenet_onnx_dynamic, inputs=x, threads=1, protocol=QUICK, roofline=False)
    assert r.optimized.batch == 2 and r.outputs["optimized"][0].shape == (2, 10)
    import torch

    with torch.no_grad():
        ref = lenet_spec.module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(r.outputs["optimized"][0], ref, atol=1e-5)


def test_bad_requests_are_user_errors(lenet_spec, lenet_onnx_dynamic):
    with pytest.raises(UnknownNameError, match="unknown target 'onxruntime'.*Did you mean: onnxruntime"):
        edgecnn.profile(lenet_onnx_dynamic, target="onxruntime")
    with pytest.raises(InvalidInputError, match="export it first"):
        edgecnn.profile(lenet_spec, target="onnxruntime")
    with pytest.raises(InvalidInputError, match="device='tcp://host:port'"):
        edgecnn.profile(lenet_onnx_dynamic, target="arm")
    with pytest.raises(InvalidInputError, match="batch must be at least 1"):
        edgecnn.profile(lenet_onnx_dynamic, batch=0)
    with pytest.raises(InvalidInputError, match="artifact not found"):
        edgecnn.profile("missing.onnx")
    with pytest.raises(InvalidInputError, match="wrap a plain nn.Module"):
        edgecnn.profile(lenet_spec.module)


@pytest.mark.openvino
def test_openvino_states_precision_and_forces_f32_for_the_baseline(lenet_onnx_dynamic):
    r = edgecnn.profile(
        lenet_onnx_dynamic, target="openvino", baseline=lenet_onnx_dynamic, threads=1, protocol=QUICK, roofline=False
    )
    assert r.backend == "openvino"
    assert r.sessions["baseline"]["requested_precision"] == "fp32" and r.sessions["baseline"][
        "inference_precision_hint"
    ] in ("f32", "float32")
    assert r.fidelity["max_abs_error"] < 1e-5

"""GPTQ weight rounding (edgecnn/quant/rounding.py): better held-out fidelity, same graph, same int range."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import edgecnn
from edgecnn.evaluation.api import predict
from edgecnn.exporters.onnx import export_onnx
from edgecnn.metrics import measure_fidelity
from edgecnn.quant.ptq import PTQConfig, prepare_for_quantization, quantize_qdq
from edgecnn.quant.rounding import _hessian, _Layer, gptq_round
from edgecnn.runtime import load_session
from edgecnn.targets import S8S8_SYMMETRIC, U8S8


@pytest.fixture(scope="module")
def lenet_fp32(digits_lenet, tmp_path_factory):
    """The digits LeNet exported and pre-processed: (prepared fp32 path, train split, test split)."""
    spec, train, test = digits_lenet
    d = tmp_path_factory.mktemp("gptq")
    export_onnx(spec, d / "fp32.onnx", check=False)
    return prepare_for_quantization(d / "fp32.onnx", d / "prepared.onnx"), train, test


def _quantize(prepared, profile, tmp_path, *, reduce_range=False, calib):
    cfg = PTQConfig(profile=profile, reduce_range=reduce_range)
    return quantize_qdq(prepared, tmp_path / "nearest.onnx", calib, cfg, cache_path=tmp_path / "ranges.json")


def _logits(path, x):
    with load_session(path) as session:
        return predict(session, x)


def _ints(path):
    model = onnx.load(str(path))
    return model, {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _assert_same_graph_and_range(nearest, rounded, qmin, qmax):
    a, ia = _ints(nearest)
    b, ib = _ints(rounded)
    assert [(n.op_type, list(n.input), list(n.output)) for n in a.graph.node] == [
        (n.op_type, list(n.input), list(n.output)) for n in b.graph.node
    ]
    assert ia.keys() == ib.keys()
    changed = 0
    for name, before in ia.items():
        after = ib[name]
        assert after.dtype == before.dtype and after.shape == before.shape
        if before.dtype in (np.int8, np.uint8) and before.ndim > 1:  # the weights: re-rounded within the range
            assert after.min() >= qmin and after.max() <= qmax
            changed += int((after != before).sum())
        else:  # scales, zero-points, biases, activation Q/DQ parameters: untouched
            np.testing.assert_array_equal(after, before)
    assert changed > 0


def test_gptq_raises_held_out_sqnr_without_losing_accuracy(lenet_fp32, tmp_path):
    prepared, train, test = lenet_fp32
    nearest = _quantize(prepared, U8S8, tmp_path, calib=train.x[:128])
    report = gptq_round(prepared, nearest, train.x, tmp_path / "gptq.onnx", samples=128)
    assert report["layers"] == report["layers_rerounded"] == 5  # 2 Conv + 3 Gemm
    assert all(e["gptq_db"] > e["nearest_db"] for e in report["per_layer"])
    ref = _logits(prepared, test.x)
    near, gptq = _logits(nearest, test.x), _logits(tmp_path / "gptq.onnx", test.x)
    acc = {k: float((v.argmax(1) == test.y).mean()) for k, v in (("nearest", near), ("gptq", gptq))}
    assert acc["gptq"] >= acc["nearest"]
    assert measure_fidelity(ref, gptq).sqnr_db > measure_fidelity(ref, near).sqnr_db
    _assert_same_graph_and_range(nearest, tmp_path / "gptq.onnx", -127, 127)


def test_tensorrt_profile_keeps_symmetric_int8_with_zero_point_0(lenet_fp32, tmp_path):
    prepared, train, _ = lenet_fp32
    nearest = _quantize(prepared, S8S8_SYMMETRIC, tmp_path, calib=train.x[:64])
    gptq_round(prepared, nearest, train.x, tmp_path / "gptq.onnx", samples=64, symmetric=True)
    _assert_same_graph_and_range(nearest, tmp_path / "gptq.onnx", -127, 127)
    model, inits = _ints(tmp_path / "gptq.onnx")
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2:
            zp = inits[node.input[2]]
            assert zp.dtype == np.int8 and not zp.any()


def test_seven_bit_weights_stay_seven_bit(lenet_fp32, tmp_path):
    prepared, train, _ = lenet_fp32
    nearest = _quantize(prepared, U8S8, tmp_path, reduce_range=True, calib=train.x[:64])
    report = gptq_round(prepared, nearest, train.x, tmp_path / "gptq.onnx", samples=64)  # range read from the values
    assert {tuple(e["range"]) for e in report["per_layer"]} == {(-64, 64)}
    _assert_same_graph_and_range(nearest, tmp_path / "gptq.onnx", -64, 64)


def test_depthwise_convs_are_rerounded_per_channel(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    prepared = prepare_for_quantization(tiny_dw_onnx.path, tmp_path / "prepared.onnx")
    nearest = _quantize(prepared, U8S8, tmp_path, calib=tiny_dw_calib)
    report = gptq_round(prepared, nearest, tiny_dw_calib, tmp_path / "gptq.onnx")
    depthwise = [e for e in report["per_layer"] if e["groups"] == 8]
    assert len(depthwise) == 1 and depthwise[0]["columns"] == 9
    assert depthwise[0]["gptq_db"] >= depthwise[0]["nearest_db"]
    _assert_same_graph_and_range(nearest, tmp_path / "gptq.onnx", -127, 127)


@pytest.mark.parametrize(
    ("groups", "stride", "pads", "dilation", "auto_pad"),
    [(1, 2, (1, 0, 2, 1), 1, "NOTSET"), (4, 1, (1, 1, 1, 1), 2, "NOTSET"), (4, 2, (0, 0, 0, 0), 1, "SAME_UPPER")],
)
def test_hessian_im2col_matches_the_convolution(groups, stride, pads, dilation, auto_pad):
    """tr(W H W^T) is the energy of conv(x, W): strides, asymmetric pads, dilations, groups, auto_pad."""
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((2, 8, 9, 11)))
    w = torch.from_numpy(rng.standard_normal((8, 8 // groups, 3, 3)))
    layer = _Layer(
        name="c", op_type="Conv", input="x", weight_fp32=w.numpy(), q_name="q", q=np.zeros(1, np.int8),
        scale=np.ones(8), zero_point=np.zeros(8, np.int64), qmin=-127, qmax=127, groups=groups, kernel=(3, 3),
        strides=(stride, stride), dilations=(dilation, dilation), pads=pads, auto_pad=auto_pad,
    )  # fmt: skip
    h = _hessian(layer, x, rows=10**6, rng=torch.Generator().manual_seed(0))
    if auto_pad == "SAME_UPPER":  # 9x11 input, stride 2, kernel 3: total pad 2 on H, 2 on W -> 1 each side
        pads = (1, 1, 1, 1)
    xp = F.pad(x, (pads[1], pads[3], pads[0], pads[2]))
    y = F.conv2d(xp, w, stride=stride, dilation=dilation, groups=groups)
    wg = w.reshape(groups, 8 // groups, -1)
    energy = torch.einsum("grc,gcd,grd->", wg, h, wg)
    assert float(energy) == pytest.approx(float((y**2).sum()), rel=1e-9)


def _api(spec, train, test, tmp_path, **adv):
    return edgecnn.quantize(
        spec,
        calib_data=train.x[:128],
        eval_data=(test.x, test.y),
        out=tmp_path / "q.onnx",
        advanced=edgecnn.AdvancedQuantization(
            check_latency=False, calib_size=128, reduce_range=False, search=False, **adv
        ),  # the rounding pass itself on all 128 samples, not the search's held-out split
    )


def test_quantize_applies_gptq_and_reports_its_effect(digits_lenet, tmp_path):
    spec, train, test = digits_lenet
    _, report = _api(spec, train, test, tmp_path, rounding="gptq")
    step = next(s for s in report["steps"] if s["type"] == "rounding")
    assert step["report"]["kept"] and step["report"]["layers_rerounded"] == 5
    assert step["effect"]["sqnr_db"]["with"] >= step["effect"]["sqnr_db"]["without"]
    assert report["fidelity"]["sqnr_db"] == step["effect"]["sqnr_db"]["with"]
    assert not any("gptq" in w for w in report["warnings"])


def test_rounding_that_hurts_is_reverted_with_a_warning(digits_lenet, tmp_path, monkeypatch):
    """A 'rounding' that flips the weights' signs must not survive: the nearest model is kept, and said so."""
    import edgecnn.quant.api as api

    def harmful(fp32, qdq, calib, out, **kwargs):
        model = onnx.load(str(qdq))
        for t in model.graph.initializer:
            a = numpy_helper.to_array(t)
            if a.dtype == np.int8 and a.ndim > 1:
                t.CopyFrom(numpy_helper.from_array((-a).astype(np.int8), t.name))
        onnx.save(model, str(out))
        return {"method": "gptq", "per_layer": []}

    monkeypatch.setattr(api, "gptq_round", harmful)
    spec, train, test = digits_lenet
    _, report = _api(spec, train, test, tmp_path, rounding="gptq")
    step = next(s for s in report["steps"] if s["type"] == "rounding")
    assert step["report"]["kept"] is False
    assert step["effect"]["sqnr_db"]["with"] < step["effect"]["sqnr_db"]["without"]
    assert report["fidelity"]["sqnr_db"] == step["effect"]["sqnr_db"]["without"]
    assert any("gptq rounding made" in w and "kept nearest" in w for w in report["warnings"])
    assert report["fidelity"]["top1_agreement"] > 0.9  # the written model is the nearest one


def test_rounding_is_a_recipe_and_cli_choice():
    from edgecnn.config import ConfigError
    from edgecnn.quant.config import AdvancedQuantization, QuantizeStep

    assert QuantizeStep(rounding="gptq").advanced.rounding == "gptq"
    assert AdvancedQuantization().rounding == "nearest"
    with pytest.raises(ConfigError, match="'nearest' or 'gptq'"):
        AdvancedQuantization(rounding="stochastic")

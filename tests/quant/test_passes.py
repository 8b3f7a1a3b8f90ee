"""Cross-layer equalization and bias correction: function preserved, ranges equalized, effect measured."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

import edgecnn
from edgecnn.quant.equalize import EqualizeConfig, equalize
from edgecnn.runtime import load_session


def test_cle_keeps_the_function_and_evens_out_channel_ranges(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    model = onnx.load(str(tiny_dw_onnx.path))
    before = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    model, report = equalize(model, EqualizeConfig())
    assert report["pairs"] == 2  # conv -> relu -> depthwise, depthwise -> relu -> pointwise
    spread = report["median_channel_range_spread"]
    assert spread["after"] < spread["before"]
    path = tmp_path / "eq.onnx"
    onnx.save(model, str(path))
    ref = load_session(tiny_dw_onnx).run(tiny_dw_calib[:1])[0]
    out = load_session(path).run(tiny_dw_calib[:1])[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    after = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    assert any(not np.allclose(before[k], after[k]) for k in before)


def test_cle_skips_relu6_unless_asked(tmp_path):
    from onnx import TensorProto, helper

    w1 = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 2, 1, 1)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(np.random.default_rng(1).standard_normal((3, 4, 1, 1)).astype(np.float32), "w2")
    lo = numpy_helper.from_array(np.array(0.0, np.float32), "lo")
    hi = numpy_helper.from_array(np.array(6.0, np.float32), "hi")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w1"], ["a"], name="c1"),
            helper.make_node("Clip", ["a", "lo", "hi"], ["b"], name="r6"),
            helper.make_node("Conv", ["b", "w2"], ["y"], name="c2"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])],
        [w1, w2, lo, hi],
    )
    model = helper.make_model(graph)
    _, kept = equalize(model, EqualizeConfig())
    assert kept["pairs"] == 0 and kept["skipped_relu6_pairs"] == 1
    _, replaced = equalize(model, EqualizeConfig(relu6_as_relu=True))
    assert replaced["pairs"] == 1 and replaced["relu6_replaced"] == 1
    assert [n.op_type for n in model.graph.node] == ["Conv", "Relu", "Conv"]


def test_quantize_reports_the_measured_effect_of_both_passes(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "p.onnx",
        advanced=edgecnn.AdvancedQuantization(equalize=True, bias_correction=True, check_latency=False),
    )
    steps = {s["type"]: s for s in result.report["steps"]}
    assert set(steps) == {"equalize", "bias_correction"}
    assert steps["equalize"]["report"]["fp32_check"]["sqnr_db_vs_original"] > 60  # the float function is unchanged
    for step in steps.values():
        effect = step["effect"]["sqnr_db"]
        assert np.isfinite(effect["without"]) and np.isfinite(effect["with"])
    assert steps["bias_correction"]["report"]["layers_corrected"] == 4
    bc = steps["bias_correction"]
    kept_sqnr = bc["effect"]["sqnr_db"]["with" if bc["report"]["kept"] else "without"]
    assert result.report["fidelity"]["sqnr_db"] == kept_sqnr >= bc["effect"]["sqnr_db"]["without"]


def test_cle_helps_per_tensor_weights_of_uneven_depthwise_channels(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    """Per-tensor weights are where CLE pays off (per-channel scales already absorb uneven channel ranges)."""
    from edgecnn.targets import QuantProfile

    per_tensor = QuantProfile("u8s8_per_tensor", activation_type="uint8", activation_symmetric=False, per_channel=False)
    result = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        preset=per_tensor,
        out=tmp_path / "e.onnx",
        advanced=edgecnn.AdvancedQuantization(equalize=True, reduce_range=False, check_latency=False),
    )
    effect = result.report["steps"][0]["effect"]["sqnr_db"]
    assert effect["with"] > effect["without"] + 3, effect


def test_bias_correction_removes_the_shift_of_coarse_per_tensor_weights(tiny_dw_calib, tmp_path):
    """With per-tensor weights the rounding error of small channels biases their outputs: correcting it helps."""
    import torch

    from edgecnn.spec import InputSpec, ModelSpec
    from edgecnn.targets import QuantProfile
    from tests.quant.conftest import _tiny_dw_module

    torch.manual_seed(0)
    spec = ModelSpec(module=_tiny_dw_module()().eval(), input=InputSpec((1, 3, 16, 16)), name="tiny_plain")
    per_tensor = QuantProfile("u8s8_per_tensor", activation_type="uint8", activation_symmetric=False, per_channel=False)
    result = edgecnn.quantize(
        spec,
        calib_data=tiny_dw_calib,
        preset=per_tensor,
        out=tmp_path / "bc.onnx",
        advanced=edgecnn.AdvancedQuantization(bias_correction=True, reduce_range=False, check_latency=False),
    )
    step = result.report["steps"][0]
    assert step["report"]["max_abs_shift"] > 0 and step["report"]["layers_corrected"] == 4
    assert step["report"]["kept"] and step["effect"]["sqnr_db"]["with"] > step["effect"]["sqnr_db"]["without"], step


def test_cle_unshares_deduplicated_initializers():
    """Exporters dedup equal constants; scaling a shared bias for one layer must not change another's."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    rng = np.random.default_rng(0)
    uneven = np.array([1, 9, 0.1, 3], np.float32).reshape(4, 1, 1, 1)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 2, 1, 1)).astype(np.float32) * uneven, "w1"),
        numpy_helper.from_array(rng.standard_normal((4, 4, 1, 1)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.full(4, 0.5, np.float32), "shared_bias"),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w1", "shared_bias"], ["a"], name="c1"),
            helper.make_node("Relu", ["a"], ["b"], name="r"),
            helper.make_node("Conv", ["b", "w2", "shared_bias"], ["y"], name="c2"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 3, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    ref = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    model, report = equalize(model, EqualizeConfig())
    assert report["pairs"] == 1
    assert model.graph.node[0].input[2] != model.graph.node[2].input[2]
    out = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)

"""TensorRT explicit-quantization rules, on real QDQ models and on hand-made graphs that break one rule each."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgecnn.exporters.trt_rules import TensorRTRulesError, check_tensorrt_qdq


def _conv_qdq(
    *,
    act_zp=0,
    act_zp_type=np.int8,
    act_scale=(0.02,),
    weight_axis=0,
    quantize_output=True,
    weight_zp=0,
    opset=17,
    omit_act_zp=False,
) -> onnx.ModelProto:
    """x -> Q -> DQ -> Conv(weight via DQ, per-channel) -> Q -> DQ -> y: a minimal explicitly quantized conv."""
    w = np.random.default_rng(0).integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    w_scale = np.full(w.shape[weight_axis], 0.01, np.float32)
    inits = [
        numpy_helper.from_array(
            np.array(act_scale, np.float32).reshape(-1) if len(act_scale) > 1 else np.array(act_scale[0], np.float32),
            "x_scale",
        ),
        numpy_helper.from_array(np.array(act_zp, act_zp_type), "x_zp"),
        numpy_helper.from_array(w, "w_q"),
        numpy_helper.from_array(w_scale, "w_scale"),
        numpy_helper.from_array(np.full(w.shape[weight_axis], weight_zp, np.int8), "w_zp"),
        numpy_helper.from_array(np.array(0.05, np.float32), "y_scale"),
        numpy_helper.from_array(np.array(0, np.int8), "y_zp"),
    ]
    x_inputs = ["x", "x_scale"] if omit_act_zp else ["x", "x_scale", "x_zp"]
    nodes = [
        helper.make_node("QuantizeLinear", x_inputs, ["xq"], name="q_in", axis=1),
        helper.make_node(
            "DequantizeLinear", ["xq", "x_scale"] + ([] if omit_act_zp else ["x_zp"]), ["xd"], name="dq_in", axis=1
        ),
        helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["wd"], name="dq_w", axis=weight_axis),
        helper.make_node("Conv", ["xd", "wd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
    ]
    if quantize_output:
        nodes += [
            helper.make_node("QuantizeLinear", ["c", "y_scale", "y_zp"], ["cq"], name="q_out"),
            helper.make_node("DequantizeLinear", ["cq", "y_scale", "y_zp"], ["y"], name="dq_out"),
        ]
    else:
        nodes += [
            helper.make_node("QuantizeLinear", ["c", "y_scale", "y_zp"], ["y_q"], name="q_out"),
            helper.make_node("Cast", ["y_q"], ["y"], name="cast", to=TensorProto.FLOAT),
        ]
    graph = helper.make_graph(
        nodes,
        "conv_qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_hand_made_symmetric_model_passes():
    report = check_tensorrt_qdq(_conv_qdq())
    assert report.ok and report.stats == {"compute": 1, "quantized_compute": 1, "qdq_nodes": 5}


def test_hand_made_asymmetric_model_is_rejected_with_a_clear_message():
    with pytest.raises(TensorRTRulesError, match=r"zero-point is not 0 \(asymmetric; first non-zero value 7\).*q_in"):
        check_tensorrt_qdq(_conv_qdq(act_zp=7))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"act_zp": 128, "act_zp_type": np.uint8}, "zero-point is uint8, not int8"),
        ({"omit_act_zp": True}, "no zero-point given, which makes it uint8"),
        ({"act_scale": (0.02, 0.03, 0.04)}, "per-channel scales on an activation"),
        ({"weight_axis": 1}, "per-channel weight axis is 1, expected 0"),
        ({"quantize_output": False}, "QuantizeLinear not followed only by DequantizeLinear"),
        ({"act_scale": (-0.02,)}, "scale is not positive"),
        ({"weight_zp": 3}, "zero-point is not 0"),
    ],
)
def test_each_rule_names_what_is_wrong(kwargs, message):
    report = check_tensorrt_qdq(_conv_qdq(**kwargs), raise_on_error=False)
    assert not report.ok
    assert any(message in rule for rule in report.errors), report.errors


def test_float_model_is_not_an_explicitly_quantized_model(lenet_onnx):
    with pytest.raises(TensorRTRulesError, match="no QuantizeLinear/DequantizeLinear nodes"):
        check_tensorrt_qdq(lenet_onnx.path)


def test_onnxruntime_symmetric_qdq_passes_and_default_u8s8_fails(lenet_qdq):
    sym, asym = lenet_qdq
    report = check_tensorrt_qdq(sym)
    assert report.ok and report.stats["quantized_compute"] == report.stats["compute"] == 5
    with pytest.raises(TensorRTRulesError) as info:
        check_tensorrt_qdq(asym)
    assert "zero-point is uint8, not int8" in str(info.value)
    assert "int32 Q/DQ (a quantized bias)" in str(info.value)

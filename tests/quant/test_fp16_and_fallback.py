"""fp16 conversion, per-layer sensitivity, and the accuracy-budget fallback on tiny models."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import edgecnn
from edgecnn.errors import InvalidInputError


def test_fp16_keeps_io_fp32_and_follows_fp32(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        precision="fp16",
        calib_data=tiny_dw_calib,
        out=tmp_path / "h.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    model = onnx.load(str(result.artifact.path))
    assert result.artifact.precision == "fp16"
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer)
    assert result.report["fidelity"]["sqnr_db"] > 40 and result.report["fidelity"]["top1_agreement"] == 1.0


def test_fp16_with_fp16_io(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        precision="fp16",
        calib_data=tiny_dw_calib,
        out=tmp_path / "h16.onnx",
        advanced=edgecnn.AdvancedQuantization(keep_io_types=False, check_latency=False),
    )
    model = onnx.load(str(result.artifact.path))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16


def test_fp16_accuracy_on_digits(digits_lenet, tmp_path):
    spec, _, test = digits_lenet
    result = edgecnn.quantize(
        spec,
        precision="fp16",
        eval_data=(test.x, test.y),
        out=tmp_path / "l.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    assert abs(result.report["accuracy"]["drop_points"]) <= 0.5


def test_sensitivity_ranks_every_layer(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "s.onnx",
        advanced=edgecnn.AdvancedQuantization(sensitivity=True, check_latency=False),
    )
    ranking = result.report["sensitivity"]
    assert len(ranking) == 4  # 3 convs + the Gemm head
    sqnr = [r["sqnr_db"] for r in ranking]
    assert sqnr == sorted(sqnr)  # most sensitive (lowest SQNR with only it quantized) first


def test_fallback_keeps_layers_float_until_the_budget_holds(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    loose = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        min_agreement=0.0,
        out=tmp_path / "a.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    assert loose.report["fallback"]["float_layers"] == [] and loose.report["fallback"]["budget"]["passed"]
    # an impossible SQNR-like demand via agreement 100% on a random model: layers go float one by one
    strict = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        min_agreement=1.0,
        out=tmp_path / "b.onnx",
        advanced=edgecnn.AdvancedQuantization(max_float_layers=4, check_latency=False),
    )
    fb = strict.report["fallback"]
    if fb["float_layers"]:
        assert fb["sensitivity"][0]["layer"] == fb["float_layers"][0]  # the most sensitive layer goes first
        assert strict.report["config"]["nodes_to_exclude"] == fb["float_layers"]
        assert strict.report["graph"]["compute_nodes_int8"] == 4 - len(fb["float_layers"])
    assert fb["budget"]["passed"] == (fb["budget"]["value"] >= 1.0)


def test_fallback_with_all_layers_float_restores_fp32(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    from edgecnn.quant.ptq import quantizable_nodes

    layers = quantizable_nodes(tiny_dw_onnx.path)
    result = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "f.onnx",
        advanced=edgecnn.AdvancedQuantization(nodes_to_exclude=tuple(layers), check_latency=False),
    )
    assert result.report["graph"]["compute_nodes_int8"] == 0


def test_accuracy_budget_needs_labels(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    with pytest.raises(InvalidInputError, match="labelled"):
        edgecnn.quantize(
            tiny_dw_onnx,
            calib_data=tiny_dw_calib,
            max_accuracy_drop=1.0,
            out=tmp_path / "x.onnx",
            advanced=edgecnn.AdvancedQuantization(check_latency=False),
        )
    with pytest.raises(InvalidInputError, match="max_accuracy_drop"):
        edgecnn.quantize(tiny_dw_onnx, calib_data=tiny_dw_calib, max_accuracy_drop=-1.0, out=tmp_path / "x.onnx")


def test_accuracy_budget_on_digits(digits_lenet, tmp_path):
    spec, train, test = digits_lenet
    result = edgecnn.quantize(
        spec,
        calib_data=train.x[:64],
        eval_data=(test.x[:200], test.y[:200]),
        max_accuracy_drop=0.5,
        out=tmp_path / "b.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    gate = result.report["fallback"]["budget"]
    assert gate["name"] == "accuracy_drop_points" and gate["passed"]
    assert result.report["accuracy"]["drop_points"] <= 0.5


def test_one_dimensional_model_quantizes_from_arrays(tmp_path):
    from edgecnn.zoo import load_model

    spec = load_model("tcn1d", weights="random")
    x = np.random.default_rng(0).standard_normal((16, 1, 128)).astype(np.float32)
    with pytest.raises(InvalidInputError, match="arrays"):
        edgecnn.quantize(spec, out=tmp_path / "t.onnx", advanced=edgecnn.AdvancedQuantization(check_latency=False))
    result = edgecnn.quantize(
        spec, calib_data=x, out=tmp_path / "t.onnx", advanced=edgecnn.AdvancedQuantization(check_latency=False)
    )
    assert result.report["graph"]["compute_nodes_int8"] >= 4

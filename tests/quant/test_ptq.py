"""int8 QDQ quantization: target formats in the graph, accuracy on real data, reduce_range, errors."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import edgecnn
from edgecnn.errors import InvalidInputError, UnknownNameError


def _zero_points_and_scales(path):
    model = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    return model, inits, qdq


def test_s8s8_symmetric_graph_has_zero_points_0_and_per_channel_weights_on_axis_0(
    tiny_dw_onnx, tiny_dw_calib, tmp_path
):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        target="tensorrt",
        calib_data=tiny_dw_calib,
        out=tmp_path / "trt.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    assert result.report["profile"]["label"] == "S8S8" and result.artifact.precision == "int8"
    model, inits, qdq = _zero_points_and_scales(result.artifact.path)
    assert qdq, "no Q/DQ nodes"
    for node in qdq:
        assert len(node.input) == 3 and node.input[2] in inits, f"{node.name} has no explicit zero-point"
        zp = inits[node.input[2]]
        assert zp.dtype in (np.int8, np.int32), f"{node.name}: {zp.dtype} zero-point"
        assert np.all(zp == 0), f"{node.name}: non-zero zero-point {zp}"
    dq_out = {n.output[0]: n for n in model.graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == 3
    for conv in convs:
        dq = dq_out[conv.input[1]]
        weight, scale = inits[dq.input[0]], inits[dq.input[1]]
        assert weight.dtype == np.int8
        assert scale.shape == (weight.shape[0],), "weights must be per-channel"
        assert next((a.i for a in dq.attribute if a.name == "axis"), 1) == 0
        assert np.all(np.abs(weight) <= 127)  # symmetric: -128 unused


def test_u8s8_uses_uint8_activations_and_int8_weights(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "ort.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    model, inits, qdq = _zero_points_and_scales(result.artifact.path)
    act = [inits[n.input[2]] for n in qdq if n.op_type == "QuantizeLinear"]
    assert act and all(z.dtype == np.uint8 for z in act)
    assert result.report["graph"]["compute_nodes_int8"] == result.report["graph"]["compute_nodes"] == 4
    assert result.report["fidelity"]["sqnr_db"] > 15


def test_digits_lenet_loses_at_most_half_a_point_with_both_profiles(digits_lenet, tmp_path):
    spec, train, test = digits_lenet
    for profile in ("u8s8", "s8s8"):
        result = edgecnn.quantize(
            spec,
            preset=profile,
            calib_data=train.x[:128],
            eval_data=(test.x, test.y),
            out=tmp_path / f"lenet.{profile}.onnx",
            advanced=edgecnn.AdvancedQuantization(check_latency=False),
        )
        acc = result.report["accuracy"]
        assert acc["fp32_top1"] > 90
        assert acc["drop_points"] <= 0.5, (profile, acc)
        # the artifact is self-describing: evaluating it again gives the same accuracy
        again = edgecnn.evaluate(result.artifact, (test.x, test.y))
        assert again["accuracy"]["top1"] == pytest.approx(acc["top1"])


def test_reduce_range_is_decided_and_reported(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    auto = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "a.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    assert isinstance(auto.report["reduce_range"]["value"], bool) and auto.report["reduce_range"]["reason"]
    forced = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "b.onnx",
        advanced=edgecnn.AdvancedQuantization(reduce_range=False, check_latency=False),
    )
    assert forced.report["reduce_range"] == {"value": False, "reason": "set by the caller"}
    trt = edgecnn.quantize(
        tiny_dw_onnx,
        target="tensorrt",
        calib_data=tiny_dw_calib,
        out=tmp_path / "c.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    assert trt.report["reduce_range"]["value"] is False  # TensorRT runs full 8-bit


@pytest.mark.parametrize(("method", "min_cosine"), [("percentile", 0.9), ("entropy", 0.9), ("distribution", 0.5)])
def test_other_calibration_methods(tiny_dw_onnx, tiny_dw_calib, tmp_path, method, min_cosine):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "m.onnx",
        advanced=edgecnn.AdvancedQuantization(calibration_method=method, check_latency=False),
    )
    assert result.report["calibration"]["method"] == method
    assert result.report["fidelity"]["cosine"] > min_cosine  # distribution targets float8: looser on int8


def test_op_types_limit_what_is_quantized(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "c.onnx",
        advanced=edgecnn.AdvancedQuantization(op_types=("Conv",), check_latency=False),
    )
    model = onnx.load(str(result.artifact.path))
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    producers = {o: n.op_type for n in model.graph.node for o in n.output}
    assert producers.get(gemm.input[1]) != "DequantizeLinear"
    assert result.report["graph"]["compute_nodes_int8"] == 3


def test_latency_check_reports_a_side_by_side_ratio(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    result = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "l.onnx",
        advanced=edgecnn.AdvancedQuantization(threads=1),
    )
    lat = result.report["latency"]
    assert lat["candidates"]["default"]["fp32_p50_ms"] > 0
    assert lat["ratio"] == pytest.approx(lat["int8_p50_ms"] / lat["fp32_p50_ms"])
    if not lat["faster"]:
        assert any("SLOWER" in w for w in result.report["warnings"])
        assert len(lat["candidates"]) >= 2  # the alternatives were tried


def test_bad_arguments_are_user_errors(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    with pytest.raises(InvalidInputError, match="calibration method"):
        edgecnn.quantize(
            tiny_dw_onnx,
            calib_data=tiny_dw_calib,
            out=tmp_path / "x.onnx",
            advanced=edgecnn.AdvancedQuantization(calibration_method="magic"),
        )
    with pytest.raises(InvalidInputError, match="precision"):
        edgecnn.quantize(tiny_dw_onnx, precision="int4", out=tmp_path / "x.onnx")
    with pytest.raises(InvalidInputError, match="preset"):
        edgecnn.quantize(tiny_dw_onnx, preset="u4", out=tmp_path / "x.onnx")
    with pytest.raises(InvalidInputError, match="expects"):
        edgecnn.quantize(tiny_dw_onnx, calib_data=np.zeros((4, 3, 8, 8), np.float32), out=tmp_path / "x.onnx")
    with pytest.raises(UnknownNameError):
        edgecnn.quantize(tiny_dw_onnx, target="tpu", out=tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_quantizing_an_int8_model_again_is_refused(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    first = edgecnn.quantize(
        tiny_dw_onnx,
        calib_data=tiny_dw_calib,
        out=tmp_path / "q.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    with pytest.raises(InvalidInputError, match="already int8"):
        edgecnn.quantize(first.artifact.path, calib_data=tiny_dw_calib, out=tmp_path / "qq.onnx")


@pytest.mark.slow
def test_digits_smallcnn_loses_at_most_half_a_point_with_both_profiles(digits_smallcnn, tmp_path):
    spec, train, test = digits_smallcnn
    for profile in ("u8s8", "s8s8"):
        result = edgecnn.quantize(
            spec,
            preset=profile,
            calib_data=train.x[:300],
            eval_data=(test.x, test.y),
            out=tmp_path / f"smallcnn.{profile}.onnx",
            advanced=edgecnn.AdvancedQuantization(check_latency=False),
        )
        assert result.report["accuracy"]["drop_points"] <= 0.5, (profile, result.report["accuracy"])


def test_quantize_step_and_keywords_share_one_schema():
    import inspect

    from edgecnn.quant.config import AdvancedQuantization, QuantizeOptions, QuantizeStep

    keywords = set(inspect.signature(edgecnn.quantize).parameters)
    assert set(QuantizeOptions.model_fields) <= keywords and "advanced" in keywords
    assert not set(AdvancedQuantization.model_fields) & keywords  # rare knobs only through `advanced`
    assert set(QuantizeStep.model_fields) == {"type"} | set(QuantizeOptions.model_fields) | set(
        AdvancedQuantization.model_fields
    )
    with pytest.raises(InvalidInputError, match="bogus"):
        edgecnn.AdvancedQuantization(bogus=1)


def test_two_calibration_samples_are_enough(lenet_onnx, tmp_path):
    """Fewer samples than the calibration batch: the dynamic-batch copy takes them as one short batch (this
    was an internal error once: the samples were trimmed to a multiple of the batch, leaving none)."""
    import edgecnn

    x = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)
    result = edgecnn.quantize(lenet_onnx, calib_data=x, out=tmp_path / "m.onnx", advanced={"check_latency": False})
    assert result.report["graph"]["compute_nodes_int8"] > 0


def test_percentile_ranges_equal_onnx_runtimes_own_collector(tiny_dw_onnx, tiny_dw_calib, tmp_path, monkeypatch):
    """The uniform-bin histogram collector (several times faster on real models) gives ONNX Runtime's ranges,
    also when a later chunk widens the histogram (its second half is scaled up)."""
    import json

    from edgecnn.quant import ptq
    from edgecnn.targets import U8S8

    calib = np.concatenate([tiny_dw_calib, 3 * tiny_dw_calib])  # 64 samples: four chunks, growing ranges
    prepared = ptq.prepare_for_quantization(tiny_dw_onnx.path, tmp_path / "prep.onnx")
    config = ptq.PTQConfig(profile=U8S8, calibration_method="percentile", percentile=99.9)
    ours = json.loads(ptq.calibrate_ranges(prepared, calib, config, cache_path=tmp_path / "ours.json").read_text())
    monkeypatch.setattr(ptq, "_use_uniform_histograms", lambda calibrator: None)
    theirs = json.loads(ptq.calibrate_ranges(prepared, calib, config, cache_path=tmp_path / "ort.json").read_text())
    assert ours["data"].keys() == theirs["data"].keys() and len(ours["data"]) > 3
    assert ours["data"] == theirs["data"]


def test_percentile_calibration_takes_a_short_last_batch(tiny_dw_onnx, tiny_dw_calib, tmp_path):
    """12 samples in batches of 8: one chunk of 8 + 4 (ONNX Runtime's own collector stacks the batches and fails
    on it, as a search trial on mobilenet_v2 did); every range is finite and ordered."""
    import json

    from edgecnn.quant import ptq
    from edgecnn.targets import U8S8

    prepared = ptq.prepare_for_quantization(tiny_dw_onnx.path, tmp_path / "prep.onnx")
    config = ptq.PTQConfig(profile=U8S8, calibration_method="percentile", percentile=99.9)
    short = ptq.calibrate_ranges(prepared, tiny_dw_calib[:12], config, cache_path=tmp_path / "short.json")
    ranges = json.loads(short.read_text())["data"]
    assert len(ranges) > 3
    for r in ranges.values():
        lo, hi = (float(v["data"]) if isinstance(v, dict) else float(v) for v in (r["lowest"], r["highest"]))
        assert np.isfinite(lo) and np.isfinite(hi) and lo <= hi

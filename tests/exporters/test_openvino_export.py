"""OpenVINO IR: fp32 and fp16-compressed from ONNX, int8 from QDQ ONNX, NNCF PTQ; precision reported; atomic."""

from __future__ import annotations

import numpy as np
import pytest

import edgecnn
from edgecnn.errors import InvalidInputError
from edgecnn.exporters.openvino import export_openvino
from edgecnn.runtime import load_session

pytestmark = pytest.mark.openvino


def test_fp32_ir_matches_torch_and_runs_in_f32(lenet_spec, tmp_path):
    art = edgecnn.export(lenet_spec, target="openvino", out=tmp_path / "m.xml")
    assert [p.name for p in art.files] == ["m.xml", "m.bin"] and art.precision == "fp32"
    check = art.provenance["check"]
    assert check["max_rel_error"] < 1e-4 and check["top1_agreement"] == 1.0
    assert check["runtime"]["inference_precision_hint"] == "float32"
    assert set(check["runtime"]["compute_layer_precisions"]) == {"f32"}


def test_fp16_weight_compression_halves_the_weights(lenet_onnx, tmp_path):
    fp32 = export_openvino(lenet_onnx.path, tmp_path / "a.xml")
    fp16 = export_openvino(lenet_onnx.path, tmp_path / "b.xml", compress_to_fp16=True)
    assert fp16.precision == "fp16" and fp32.precision == "fp32"
    assert fp16.path.with_suffix(".bin").stat().st_size < 0.6 * fp32.path.with_suffix(".bin").stat().st_size
    x = np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)
    a, b = load_session(fp32).run(x)[0], load_session(fp16).run(x)[0]
    np.testing.assert_allclose(a, b, atol=1e-2 * np.abs(a).max())


def test_qdq_onnx_runs_in_int8_in_openvino(lenet_qdq, tmp_path):
    sym, _ = lenet_qdq
    art = edgecnn.export(str(sym), target="openvino", precision="int8", out=tmp_path / "q.xml")
    check = art.provenance["check"]
    assert art.precision == "int8" and art.provenance["quantizer"] == "qdq"
    assert {"i8", "u8"} & set(check["runtime"]["compute_layer_precisions"]), check["runtime"]
    assert check["top1_agreement"] == 1.0 and check["max_rel_error"] < 0.1


@pytest.mark.slow  # NNCF import + PTQ take about 20 s on 2 cores
def test_nncf_int8_keeps_the_trained_models_predictions(digits_lenet, tmp_path):
    spec, train, test = digits_lenet
    art = edgecnn.export(
        spec,
        target="openvino",
        precision="int8",
        quantizer="nncf",
        out=tmp_path / "n.xml",
        calib_data=train.x[:64],
        check_inputs=test.x[:64],
    )
    check = art.provenance["check"]
    assert art.provenance["quantizer"] == "nncf" and art.precision == "int8"
    assert {"i8", "u8"} & set(check["runtime"]["compute_layer_precisions"])
    assert check["top1_agreement"] >= 0.95, check


def test_failed_conversion_keeps_the_earlier_ir(lenet_onnx, tmp_path):
    good = export_openvino(lenet_onnx.path, tmp_path / "m.xml")
    before = (good.path.read_bytes(), good.path.with_suffix(".bin").read_bytes())
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(InvalidInputError, match="OpenVINO cannot convert"):
        export_openvino(broken, tmp_path / "m.xml")
    assert (good.path.read_bytes(), good.path.with_suffix(".bin").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.onnx", "m.bin", "m.xml"]

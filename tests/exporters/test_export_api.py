"""edgecnn.export(...): targets, precisions, checks against PyTorch, TensorRT without TensorRT, bad input."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

import edgecnn
from edgecnn.errors import InvalidInputError, UnknownNameError, UserError
from edgecnn.exporters.trt_rules import TensorRTRulesError

NO_TENSORRT = pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")


def test_export_onnxruntime_fp32_is_checked_against_pytorch(lenet_spec, tmp_path):
    art = edgecnn.export(lenet_spec, target="onnxruntime", out=tmp_path / "m.onnx")
    check = art.provenance["check"]
    assert art.format == "onnx" and art.precision == "fp32" and art.target == "onnxruntime"
    assert check["reference"] == "pytorch" and check["max_rel_error"] < 1e-4 and check["top1_agreement"] == 1.0


def test_onnx_file_input_is_checked_against_itself(lenet_onnx, tmp_path):
    art = edgecnn.export(str(lenet_onnx.path), target="onnxruntime", out=tmp_path / "copy.onnx")
    assert (
        art.provenance["check"]["reference"].startswith("onnxruntime")
        and art.provenance["check"]["max_abs_error"] == 0.0
    )


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"target": "openvino", "out": "m.onnx"}, UserError, "must end in .xml"),
        ({"target": "tensorrt", "out": "m.onnx"}, UserError, "must end in .engine or .plan"),
        (
            {"target": "onnxruntime", "out": "m.onnx", "quantizer": "nncf", "precision": "int8"},
            InvalidInputError,
            "OpenVINO int8 quantizer",
        ),
        ({"target": "onnxruntime", "out": "m.onnx", "precision": "int4"}, InvalidInputError, "precision must be"),
        ({"target": "tpu", "out": "m.onnx"}, UnknownNameError, "unknown target 'tpu'"),
    ],
)
def test_bad_requests_are_user_errors(lenet_spec, tmp_path, kwargs, error, message):
    kwargs["out"] = tmp_path / kwargs["out"]
    with pytest.raises(error, match=message):
        edgecnn.export(lenet_spec, **kwargs)


@NO_TENSORRT
def test_tensorrt_int8_without_tensorrt_writes_checked_qdq_onnx_and_the_build_commands(lenet_qdq, tmp_path):
    sym, _ = lenet_qdq
    engine = tmp_path / "lenet.engine"
    art = edgecnn.export(str(sym), target="tensorrt", precision="int8", out=engine)
    prov = art.provenance
    assert (
        art.format == "onnx" and art.precision == "int8" and art.path == tmp_path / "lenet.engine.onnx"
    ) and art.path.exists()
    assert (
        not engine.exists() and prov["engine_built"] is False and "TensorRT is not installed" in prov["why_not_built"]
    )
    assert prov["rules_check"]["ok"] is True
    assert prov["build_commands"]["trtexec"] == (
        f"trtexec --onnx={tmp_path / 'lenet.engine.onnx'} --saveEngine={engine} "
        f"--timingCacheFile={tmp_path / 'lenet.engine.timing.cache'} --stronglyTyped"
    )
    assert (
        prov["build_commands"]["edgecnn"]
        == f"edgecnn export {tmp_path / 'lenet.engine.onnx'} --target tensorrt --precision int8 --out {engine}"
    )
    assert prov["check"]["top1_agreement"] == 1.0  # the QDQ ONNX ran in ONNX Runtime against its source


@NO_TENSORRT
def test_tensorrt_dynamic_batch_gets_an_optimization_profile_in_the_command(lenet_spec, tmp_path):
    art = edgecnn.export(
        lenet_spec,
        target="tensorrt",
        precision="fp16",
        out=tmp_path / "m.engine",
        dynamic_batch=True,
        batch_range=(1, 4, 16),
    )
    cmd = art.provenance["build_commands"]["trtexec"]
    assert (
        "--fp16" in cmd
        and "--minShapes=input:1x1x32x32 --optShapes=input:4x1x32x32 --maxShapes=input:16x1x32x32" in cmd
    )
    assert art.provenance["build_commands"]["edgecnn"].endswith("--batch-range 1,4,16")


def test_tensorrt_refuses_asymmetric_qdq(lenet_qdq, tmp_path):
    _, asym = lenet_qdq
    with pytest.raises(TensorRTRulesError, match="zero-point is uint8"):
        edgecnn.export(str(asym), target="tensorrt", precision="int8", out=tmp_path / "m.engine")
    assert list(tmp_path.iterdir()) == []


def test_tensorrt_int8_needs_a_qdq_model(lenet_onnx, tmp_path):
    from edgecnn.exporters.tensorrt import export_tensorrt

    with pytest.raises(InvalidInputError, match="no Q/DQ nodes"):
        export_tensorrt(lenet_onnx.path, tmp_path / "m.engine", precision="int8")


@NO_TENSORRT
def test_cli_tensorrt_export_exits_0_and_says_no_engine_was_built(lenet_qdq, tmp_path):
    sym, _ = lenet_qdq
    engine = tmp_path / "m.engine"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgecnn.cli.main",
            "export",
            str(sym),
            "--target",
            "tensorrt",
            "--precision",
            "int8",
            "--out",
            str(engine),
        ],
        capture_output=True,
        text=True,
        env=_wide_env(),
    )
    assert run.returncode == 0, run.stderr
    text = " ".join((run.stdout + run.stderr).split())
    assert "No TensorRT engine was built" in text
    assert f"trtexec --onnx={tmp_path / 'm.engine.onnx'} --saveEngine={engine}" in text
    rules = subprocess.run(
        [sys.executable, "-m", "edgecnn.cli.main", "trt-rules", str(lenet_qdq[1])],
        capture_output=True,
        text=True,
        env=_wide_env(),
    )
    assert rules.returncode == 2 and "zero-point is uint8, not int8" in " ".join(rules.stderr.split())


def _wide_env():
    import os

    return {**os.environ, "COLUMNS": "250"}


def test_int8_export_quantizes_through_edgecnn_quantize(lenet_spec, digits_1ch, tmp_path):
    train, test = digits_1ch
    art = edgecnn.export(
        lenet_spec,
        target="onnxruntime",
        precision="int8",
        out=tmp_path / "q.onnx",
        calib_data=train.x[:32],
        check_inputs=test.x[:64],
        quantize_advanced=edgecnn.AdvancedQuantization(check_latency=False),
    )
    assert art.precision == "int8" and art.path == tmp_path / "q.onnx"
    assert art.provenance["intermediates"] == {
        "fp32_onnx": str(tmp_path / "q.onnx.fp32.onnx"),
        "int8_onnx": str(tmp_path / "q.onnx"),
    }
    check = art.provenance["check"]
    assert check["reference"] == "pytorch" and check["samples"] == 64 and check["top1_agreement"] >= 0.9, check

"""One Session interface over torch, ONNX Runtime, OpenVINO and TensorRT: same outputs, clear errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from edgecnn.errors import DeviceUnavailableError, InvalidInputError, MissingDependencyError
from edgecnn.runtime import BACKENDS, load_session

X = np.random.default_rng(0).standard_normal((3, 1, 32, 32)).astype(np.float32)


def test_all_backends_are_registered():
    assert {"torch", "onnxruntime", "openvino", "tensorrt"} <= set(BACKENDS.names())


def test_torch_and_onnxruntime_agree(lenet_spec, lenet_onnx_dynamic):
    ref = load_session(lenet_spec, threads=1).run(X)[0]
    out = load_session(lenet_onnx_dynamic, threads=1).run({"input": X})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.openvino
def test_openvino_agrees_and_states_its_precision_and_threads(lenet_spec, lenet_onnx_dynamic):
    session = load_session(lenet_onnx_dynamic, backend="openvino", threads=1)
    np.testing.assert_allclose(session.run(X)[0], load_session(lenet_spec).run(X)[0], rtol=1e-4, atol=1e-5)
    info = session.describe()
    assert info["threads"] == 1 and info["requested_precision"] == "fp32"
    assert info["inference_precision_hint"] == "float32" and set(info["compute_layer_precisions"]) == {"f32"}


@pytest.mark.openvino
def test_openvino_reports_what_it_really_used_for_bf16(lenet_onnx_dynamic):
    """Asking for bf16 on a CPU without AVX512-BF16/AMX falls back; the session says what ran."""
    info = load_session(lenet_onnx_dynamic, backend="openvino", precision="bf16").describe()
    bf16_cpu = "avx512_bf16" in open("/proc/cpuinfo").read() or "amx_bf16" in open("/proc/cpuinfo").read()
    assert info["requested_precision"] == "bf16"
    assert info["inference_precision_hint"] == ("bfloat16" if bf16_cpu else "float32")


@pytest.mark.openvino
def test_openvino_bad_precision_and_bad_input_are_user_errors(lenet_onnx_dynamic):
    with pytest.raises(InvalidInputError, match="unknown OpenVINO precision 'int3'"):
        load_session(lenet_onnx_dynamic, backend="openvino", precision="int3")
    session = load_session(lenet_onnx_dynamic, backend="openvino")
    with pytest.raises(InvalidInputError, match="input does not fit"):
        session.run(np.zeros((1, 3, 32, 32), np.float32))
    with pytest.raises(DeviceUnavailableError, match="no NPU device"):
        load_session(lenet_onnx_dynamic, backend="openvino", device="npu")


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_tensorrt_backend_without_tensorrt_names_the_fix(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"engine")
    with pytest.raises(MissingDependencyError, match=r'pip install "edgecnn\[tensorrt\]"'):
        load_session(engine)


def test_cuda_requests_fail_clearly_without_a_gpu(lenet_spec, lenet_onnx_dynamic):
    import onnxruntime as ort
    import torch

    if torch.cuda.is_available() or "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has CUDA")
    with pytest.raises(DeviceUnavailableError, match="no CUDA device"):
        load_session(lenet_spec, device="cuda")
    with pytest.raises(DeviceUnavailableError, match="no CUDA execution provider"):
        load_session(lenet_onnx_dynamic, device="cuda")


@pytest.mark.cuda
def test_torch_and_onnxruntime_on_cuda_agree_with_cpu(lenet_spec, lenet_onnx_dynamic):
    import onnxruntime as ort

    ref = load_session(lenet_spec).run(X)[0]
    on_cuda = load_session(lenet_spec.copy(), device="cuda")  # a copy: the session moves its module in place
    np.testing.assert_allclose(on_cuda.run(X)[0], ref, rtol=1e-3, atol=1e-4)
    if "CUDAExecutionProvider" in ort.get_available_providers():
        session = load_session(lenet_onnx_dynamic, device="cuda")
        assert session.describe()["providers"][0] == "CUDAExecutionProvider"
        np.testing.assert_allclose(session.run(X)[0], ref, rtol=1e-3, atol=1e-4)


@pytest.mark.tensorrt
@pytest.mark.cuda
def test_tensorrt_engine_builds_and_matches_onnxruntime(lenet_spec, tmp_path):
    import edgecnn

    art = edgecnn.export(
        lenet_spec,
        target="tensorrt",
        precision="fp32",
        out=tmp_path / "m.engine",
        dynamic_batch=True,
        batch_range=(1, 2, 4),
    )
    assert art.format == "tensorrt" and art.provenance["engine_built"] is True
    meta = art.provenance["engine"]
    assert meta["tensorrt_version"] and meta["gpu"]["name"] and (tmp_path / "m.engine.timing.cache").exists()
    session = load_session(art)
    np.testing.assert_allclose(session.run(X)[0], load_session(lenet_spec).run(X)[0], rtol=1e-3, atol=1e-3)
    assert session.describe()["built_with"]["tensorrt_version"] == meta["tensorrt_version"]


@pytest.mark.openvino
def test_openvino_runs_an_ir_saved_without_port_names(tmp_path):
    """`ov.convert_model(torch_model)` leaves the output unnamed (NNCF's usual flow saves it so): it still loads
    and runs, the port called output0, and the bundle/export IO listing does not crash on it."""
    import openvino as ov
    import torch

    import edgecnn
    from edgecnn.exporters.openvino import model_io

    spec = edgecnn.load_model("lenet5", weights="random")
    model = ov.convert_model(spec.module.eval(), example_input=torch.zeros(spec.input.shape))
    ov.save_model(model, str(tmp_path / "unnamed.xml"))
    with load_session(tmp_path / "unnamed.xml") as session:
        assert session.output_names == ["output0"]
        assert session.run(np.zeros(spec.input.shape, np.float32))[0].shape == (1, 10)
    assert model_io(ov.Core().read_model(str(tmp_path / "unnamed.xml")).outputs, "output")[0]["name"] == "output0"

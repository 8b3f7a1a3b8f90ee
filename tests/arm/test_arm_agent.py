"""Real aarch64 code: the agent runs under QEMU user mode and validates fp32 and int8 models against x86."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from edgecnn.profiling.api import EMULATION_NOTE
from edgecnn.profiling.timing import TimingProtocol
from edgecnn.runtime import load_session

from .conftest import TOKEN

pytestmark = pytest.mark.arm

QUICK = TimingProtocol(warmup=1, min_iters=4, min_seconds=0.0, rounds=2, pause_s=0.0)


def _quantize(fp32_path, out_path, calibration):
    """int8 QDQ U8S8 per-channel through ONNX Runtime's quantize_static.

    The x86 run is the reference, so it must be exact: on x86 without VNNI, ONNX Runtime's AVX2 u8s8
    kernels saturate int16 partial sums (measured here: up to 9 output steps off vs aarch64), so the
    weights use 7 bits there (reduce_range), as ONNX Runtime recommends for such CPUs.
    """
    from edgecnn.profiling.environment import fingerprint
    from edgecnn.profiling.roofline import quantize_u8s8

    flags = fingerprint()["flags"]
    vnni = "avx512_vnni" in flags or "avx_vnni" in flags
    return quantize_u8s8(fp32_path, out_path, calibration, reduce_range=not vnni)


def _output_step(path) -> float:
    """Quantization step of the model output: the scale of the DequantizeLinear that produces it."""
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    out = model.graph.output[0].name
    producer = next(n for n in model.graph.node if out in n.output)
    assert producer.op_type == "DequantizeLinear", f"output made by {producer.op_type}, not a DequantizeLinear"
    return float(np.max(inits[producer.input[1]]))


@pytest.fixture(scope="module")
def models(digits_lenet, tmp_path_factory):
    from edgecnn.exporters.onnx import export_onnx

    spec, train, test = digits_lenet
    tmp = tmp_path_factory.mktemp("arm_models")
    fp32 = export_onnx(spec, tmp / "lenet_fp32.onnx", check=False).path
    int8 = _quantize(fp32, tmp / "lenet_int8.onnx", train.x[:64])
    return fp32, int8, test.x[:8]


def test_fp32_and_int8_outputs_on_aarch64_match_x86(arm_agent, models):
    fp32, int8, x = models
    for path, tol in ((fp32, 1e-5), (int8, _output_step(int8) * 1.001)):
        remote = load_session(path, backend="remote", device=arm_agent, token=TOKEN, threads=1)
        try:
            assert remote.fingerprint["arch"] == "aarch64" and remote.fingerprint["emulated"] == "qemu"
            for i in range(len(x)):
                ref = load_session(path, threads=1).run(x[i : i + 1])[0]
                got = remote.run(x[i : i + 1])[0]
                assert np.max(np.abs(got - ref)) <= tol, f"{path.name}: aarch64 differs from x86 by more than {tol}"
                assert got.argmax() == ref.argmax()
        finally:
            remote.close()


def test_profile_through_the_emulated_device_reports_it_is_not_latency(arm_agent, models):
    import edgecnn

    fp32, int8, x = models
    result = edgecnn.profile(
        int8, baseline=fp32, device=arm_agent, token=TOKEN, threads=1, protocol=QUICK, inputs=x[:1]
    )
    d = result.to_dict()
    assert d["target"] == "arm" and d["device_environment"]["arch"] == "aarch64"
    assert d["device_environment"]["versions"]["onnxruntime"] and d["device_environment"]["emulated"] == "qemu"
    assert EMULATION_NOTE in d["notes"]
    assert d["optimized"]["iterations"] >= QUICK.min_iters and d["baseline"]["iterations"] >= QUICK.min_iters
    assert d["fidelity"]["max_abs_error"] < 1.0  # int8 vs fp32 of a trained model, logits stay close
    assert result.outputs["optimized"][0].argmax() == result.outputs["baseline"][0].argmax()

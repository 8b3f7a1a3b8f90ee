"""Fixtures for the export tests: the digits at 1x32x32 and the shared LeNet as QDQ int8 ONNX (both kinds).

Structural tests use the untrained LeNet of the top-level conftest (`lenet_spec`, and `lenet_onnx` for its
fp32 ONNX); tests that judge int8 agreement use the digits-trained one (`digits_lenet`). The QDQ models come
from ONNX Runtime's quantize_static directly, so these tests do not depend on the quantizer's defaults:
symmetric int8 with float biases (what TensorRT takes) and the usual asymmetric uint8 activations (what
TensorRT must refuse).
"""

from __future__ import annotations

import numpy as np
import pytest


def qdq_model(src, dst, calib: np.ndarray, *, symmetric: bool, input_name: str = "input") -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{input_name: calib[i : i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self._it, None)

    quantize_static(
        str(src),
        str(dst),
        Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True, "QuantizeBias": not symmetric},
    )


@pytest.fixture(scope="session")
def digits_1ch():
    from edgecnn.evaluation.digits import load_digits

    return load_digits(size=32, channels=1)


@pytest.fixture(scope="session")
def lenet_qdq(lenet_onnx, digits_1ch, tmp_path_factory):
    """(symmetric int8 QDQ path, asymmetric uint8 QDQ path) of lenet_onnx."""
    folder = tmp_path_factory.mktemp("lenet_qdq")
    sym, asym = folder / "lenet_sym.onnx", folder / "lenet_asym.onnx"
    qdq_model(lenet_onnx.path, sym, digits_1ch[0].x[:32], symmetric=True)
    qdq_model(lenet_onnx.path, asym, digits_1ch[0].x[:32], symmetric=False)
    return sym, asym

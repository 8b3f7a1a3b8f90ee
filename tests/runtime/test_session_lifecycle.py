"""Every session is a context manager; Q/DQ simulation is an option of the ONNX Runtime backend."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.runtime import load_session

X = np.random.default_rng(0).standard_normal((2, 1, 32, 32)).astype(np.float32)


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_with_closes_the_session(backend, lenet_onnx_dynamic, lenet_spec):
    model = lenet_spec if backend == "torch" else lenet_onnx_dynamic
    with load_session(model, backend=backend) as session:
        assert session.run(X)[0].shape == (2, 10)
    session.close()  # closing twice is harmless


def test_a_closed_onnxruntime_session_says_so(lenet_onnx_dynamic):
    with load_session(lenet_onnx_dynamic) as session:
        pass
    with pytest.raises(InvalidInputError, match="closed"):
        session.run(X)


def test_simulated_qdq_runs_with_graph_optimizations_off_and_says_so(lenet_onnx_dynamic):
    with load_session(lenet_onnx_dynamic, simulate_qdq=True) as simulated, load_session(lenet_onnx_dynamic) as plain:
        np.testing.assert_allclose(simulated.run(X)[0], plain.run(X)[0], rtol=1e-4, atol=1e-5)
        assert "Q/DQ simulated in float" in simulated.describe()["mode"]
        assert "mode" not in plain.describe()
    with pytest.raises(InvalidInputError, match="simulate_qdq is an option of the onnxruntime backend"):
        load_session(lenet_onnx_dynamic, backend="openvino", simulate_qdq=True)

"""A small untrained LeNet and its ONNX export, shared by the backend tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def lenet_file(lenet_spec, tmp_path_factory):
    from edgecnn.exporters.onnx import export_onnx

    return export_onnx(lenet_spec, tmp_path_factory.mktemp("rt") / "lenet.onnx", dynamic_batch=True, check=False)

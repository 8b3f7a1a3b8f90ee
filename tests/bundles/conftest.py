"""An untrained LeNet, its ONNX artifact, and a bundle of it, for the bundle tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def lenet_artifact(lenet_spec, tmp_path_factory):
    from edgecnn.exporters.onnx import export_onnx

    return export_onnx(lenet_spec, tmp_path_factory.mktemp("art") / "lenet.onnx", check=False)

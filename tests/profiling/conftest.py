"""Small ONNX models for the profiling tests, and a private peak cache per test session."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Roofline peaks are cached per machine in ~/.cache/edgecnn: tests use their own, pre-seeded, directory."""
    import json

    from edgecnn.profiling.environment import fingerprint, machine_key

    monkeypatch.setenv("EDGECNN_CACHE", str(tmp_path / "cache"))
    fp = fingerprint()
    peaks = {
        f"{b}/threads={t}": {"fp32": 10.0, "int8": 40.0 if b != "torch" else None, "unit": "GMAC/s"}
        for b in ("onnxruntime", "openvino", "torch")
        for t in (1, 2, 4, 8)
    }
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "peak.json").write_text(json.dumps({machine_key(fp): {"cpu": fp["cpu"], "peaks": peaks}}))


@pytest.fixture(scope="module")
def lenet(tmp_path_factory):
    """(ModelSpec, fp32 ONNX Artifact with dynamic batch) of a seeded LeNet-5."""
    import torch

    from edgecnn.exporters.onnx import export_onnx
    from edgecnn.zoo import load_model

    torch.manual_seed(0)
    spec = load_model("lenet5", weights="random")
    art = export_onnx(spec, tmp_path_factory.mktemp("lenet") / "lenet5.onnx", dynamic_batch=True, check=False)
    return spec, art

"""A private, pre-seeded peak cache for each profiling test (the LeNet models come from tests/conftest.py)."""

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

"""Shared fixtures and backend-aware skipping for the marked tests.

Shared fixtures: each name means one thing in every folder (folder conftests add only what is theirs, under
names that say what it is). The models are session-scoped and shared: a test that mutates one copies it first
(`spec.copy()`), e.g. before loading it on CUDA or in fp16 (TorchSession moves the module in place).

    lenet_spec          ModelSpec: an untrained LeNet-5 seeded with torch.manual_seed(0), input (1, 1, 32, 32)
    lenet_onnx          Artifact: lenet_spec exported to fp32 ONNX (lenet.onnx), static batch 1, checked
                        against PyTorch at export
    lenet_onnx_dynamic  Artifact: the same fp32 ONNX export with a dynamic batch axis (any batch size)
    lenet_input         np.ndarray: a seeded (1, 1, 32, 32) float32 input (standard normal, numpy seed 0), fresh
                        for each test
    digits_smallcnn     (ModelSpec, train split, test split): smallcnn trained on scikit-learn's digits
    digits_lenet        (ModelSpec, train split, test split): lenet5 trained on digits
    plant_speed         plant_speed(ratio, low, high): the pipeline's int8-vs-fp32 comparison reads as given
                        (which model `edgecnn optimize` delivers must not hang on timing tiny models)
"""

from __future__ import annotations

import importlib.util
import os

import pytest

# keep torch / ORT from fighting over the 2 cores when several tests spawn sessions
os.environ.setdefault("OMP_NUM_THREADS", "2")


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


@pytest.fixture
def plant_speed(monkeypatch):
    """Make `edgecnn optimize`'s baseline-vs-reduced-precision comparison read ratio (low, high); the profile
    itself still runs, and a float-vs-float comparison stays measured."""
    import dataclasses

    from edgecnn.pipeline import runner

    def plant(ratio: float, low: float, high: float) -> None:
        real = runner.profile

        def profile(artifact, **kw):
            result = real(artifact, **kw)
            if artifact.precision != "fp32" and result.comparison is not None:
                result.comparison = dataclasses.replace(result.comparison, ratio=ratio, ci_low=low, ci_high=high)
            return result

        monkeypatch.setattr(runner, "profile", profile)

    return plant


# every test has pytest-timeout's `timeout` (pyproject.toml); a slow one gets this much unless it sets its own
SLOW_TIMEOUT_S = 1200


def pytest_collection_modifyitems(config, items):
    reasons = {
        "openvino": None if _has("openvino") else 'openvino is not installed (pip install "edgecnn[openvino]")',
        "tensorrt": None if _has("tensorrt") else "TensorRT is not installed (it needs an NVIDIA GPU machine)",
        "cuda": None if _has_cuda() else "no CUDA GPU on this machine",
    }
    for item in items:
        if "slow" in item.keywords and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))
        for marker, reason in reasons.items():
            if reason and marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def lenet_spec():
    """An untrained, seeded LeNet-5: for tests of structure and numerics rather than accuracy."""
    import torch

    from edgecnn.zoo.loader import load_model

    torch.manual_seed(0)
    return load_model("lenet5", weights="random")


@pytest.fixture(scope="session")
def lenet_onnx(lenet_spec, tmp_path_factory):
    """lenet_spec as an fp32 ONNX Artifact with a static batch of 1, checked against PyTorch at export."""
    from edgecnn.exporters.onnx import export_onnx

    return export_onnx(lenet_spec, tmp_path_factory.mktemp("lenet") / "lenet.onnx")


@pytest.fixture(scope="session")
def lenet_onnx_dynamic(lenet_spec, tmp_path_factory):
    """lenet_spec as an fp32 ONNX Artifact with a dynamic batch axis."""
    from edgecnn.exporters.onnx import export_onnx

    return export_onnx(lenet_spec, tmp_path_factory.mktemp("lenet_dynamic") / "lenet.onnx", dynamic_batch=True)


@pytest.fixture
def lenet_input():
    """A seeded (1, 1, 32, 32) float32 input for the LeNet models: a fresh array for each test."""
    import numpy as np

    return np.random.default_rng(0).standard_normal((1, 1, 32, 32)).astype(np.float32)


@pytest.fixture(scope="session")
def digits_smallcnn():
    """`smallcnn` trained on scikit-learn's digits (real data): (ModelSpec, train split, test split).

    Trained once per test session (about 20 s on 2 cores); tests must copy before mutating.
    """
    return _train("smallcnn", epochs=6)


@pytest.fixture(scope="session")
def digits_lenet():
    """`lenet5` trained on digits: a quick (2 s) real-data model."""
    return _train("lenet5", epochs=8)


def _train(name: str, *, epochs: int):
    """Train on one thread: on a busy 2-core machine two torch threads were 4x slower (179 s vs 44 s)."""
    import torch

    from edgecnn.evaluation.digits import trained_digits_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return trained_digits_model(name, epochs=epochs)
    finally:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------- every report.json a test writes is valid
# (owned by the report schema, issue 12): after each test that used tmp_path, each report.json under it
# validates against the published schema, docs/report.schema.json. Profile results ("kind": "profile",
# `edgecnn profile`) are a different document and are not checked here.

_REPORT_SCHEMA = None


@pytest.fixture(autouse=True)
def _written_reports_match_the_published_schema(request):
    # asked for before the test runs, so that tmp_path is torn down after this check, not before it
    tmp_path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp_path is None:
        return
    reports = sorted(tmp_path.rglob("report.json"))
    if not reports:
        return
    import json
    from pathlib import Path

    import jsonschema  # the dev extra

    global _REPORT_SCHEMA
    if _REPORT_SCHEMA is None:
        schema = json.loads((Path(__file__).parents[1] / "docs" / "report.schema.json").read_text())
        _REPORT_SCHEMA = jsonschema.Draft202012Validator(schema)
    for path in reports:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and data.get("kind") in ("profile", "sweep"):  # documents of their own
            continue
        errors = [
            f"{'.'.join(str(p) for p in e.absolute_path) or '<report>'}: {e.message}"
            for e in _REPORT_SCHEMA.iter_errors(data)
        ]
        assert not errors, f"{path} does not match docs/report.schema.json: " + "; ".join(errors[:10])


# ---------------------------------------------------------------- secrets never reach a file
# (owned by the robustness corpus, tests/robustness): every test runs with a planted device-agent token in
# EDGECNN_AGENT_TOKEN (what `--token` reads), and after each test that used tmp_path no file under it may contain
# that token. Agent tests pass their own tokens explicitly; session fixtures start before this one.

PLANTED_TOKEN = "planted-agent-secret-4f1c9e"


@pytest.fixture(autouse=True)
def _planted_token_never_reaches_a_file(request, monkeypatch):
    monkeypatch.setenv("EDGECNN_AGENT_TOKEN", PLANTED_TOKEN)
    tmp_path = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp_path is None:
        return
    needle = PLANTED_TOKEN.encode()
    leaked = [
        str(p.relative_to(tmp_path))
        for p in sorted(tmp_path.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.stat().st_size < (256 << 20) and needle in p.read_bytes()
    ]
    assert not leaked, f"the planted agent token was written to: {', '.join(leaked)}"

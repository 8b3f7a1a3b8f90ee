"""The public API shows real functions: real signatures for `inspect`, `help` and type checkers, no module tricks."""

import importlib
import inspect

import pytest

import edgecnn

STAGES = {
    "export": "model_or_onnx",
    "profile": "artifact",
    "evaluate": "model",
    "quantize": "model_or_onnx",
    "qat": "model",
    "optimize": "model",
    "bundle": "artifacts",
}


@pytest.mark.parametrize("name,first", sorted(STAGES.items()))
def test_stage_functions_show_their_real_signature(name, first):
    func = getattr(edgecnn, name)
    assert inspect.isfunction(func), f"edgecnn.{name} is {type(func).__name__}, not a function"
    params = list(inspect.signature(func).parameters)
    assert params[0] == first and "args" not in params and "kwargs" not in params


def test_importing_the_packages_never_shadows_the_functions():
    for package in (
        "edgecnn.exporters.onnx",
        "edgecnn.profiling.timing",
        "edgecnn.evaluation.metrics",
        "edgecnn.bundles",
    ):
        importlib.import_module(package)
    for name in STAGES:
        assert inspect.isfunction(getattr(edgecnn, name))


def test_every_public_name_resolves():
    for name in edgecnn.__all__:
        assert getattr(edgecnn, name) is not None

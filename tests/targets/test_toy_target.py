"""A target is one class and one registry line: the pipeline runs a new one without any other change."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgecnn.artifact import Artifact
from edgecnn.targets import TARGETS, U8S8, Compiled, Target, Validation, get_target

FAST_PROFILE = {"min_iters": 5, "min_seconds": 0.05, "rounds": 2, "warmup": 1, "threads": 1}


class ToyTarget(Target):
    name = "toy"
    quant = U8S8
    export_format = "onnx"
    backend = "onnxruntime"
    device = "cpu"
    description = "a toy target: ONNX Runtime on the CPU, under another name"

    def compile(self, baseline: Artifact, optimized: Artifact, out: Path, *, device: str | None = None) -> Compiled:
        return Compiled(baseline, optimized, "cpu", notes=["compiled by the toy target"])

    def validation(self, deployable: Artifact, optimized: Artifact) -> Validation:
        return Validation(optimized, "onnxruntime", "the toy runtime (onnxruntime)")


@pytest.fixture
def toy():
    TARGETS.add("toy", ToyTarget())
    try:
        yield get_target("toy")
    finally:
        TARGETS.remove("toy")


def test_a_registered_toy_target_runs_through_the_whole_pipeline(toy, lenet_spec, tmp_path, plant_speed):
    plant_speed(0.5, 0.45, 0.55)  # int8 measured faster: it ships
    from edgecnn.pipeline.recipe import Recipe
    from edgecnn.pipeline.runner import run_recipe
    from edgecnn.report.build import check_report

    recipe = {
        "model": {"name": "lenet5", "weights": "random"},
        "steps": [{"type": "quantize", "precision": "int8", "check_latency": False}],
        "data": {"calib_size": 16},
        "profile": FAST_PROFILE,
        "bundle": False,
    }
    validated = Recipe.model_validate({**recipe, "target": "toy"})  # the recipe knows targets from the registry
    result = run_recipe(validated, model=lenet_spec, out_dir=tmp_path / "out")

    report = result.report
    check_report(report)
    assert report["target"] == "toy"
    assert "compiled by the toy target" in report["notes"]
    assert report["fidelity"]["runtime"] == "the toy runtime (onnxruntime)" and report["fidelity"]["samples"] == 16
    assert report["optimized"]["precision"] == "int8" and report["speedup"] is not None
    quant = next(s for s in report["steps"] if s["type"] == "quantize")
    assert quant["report"]["target"] == "toy"


def test_the_toy_target_is_gone_after_the_test():
    assert "toy" not in TARGETS

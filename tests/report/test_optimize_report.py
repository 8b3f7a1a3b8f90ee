"""An optimize run's report: validated before writing, identical in memory and on disk, and typed."""

from __future__ import annotations

import json

import pytest

from edgecnn.errors import InternalError
from edgecnn.report.schema import Report

FAST_PROFILE = {"min_iters": 10, "min_seconds": 0.05, "rounds": 2, "warmup": 2}


def test_optimize_returns_the_report_it_wrote_and_its_typed_form(lenet_spec, tmp_path, plant_speed):
    import edgecnn

    plant_speed(0.5, 0.45, 0.55)  # int8 measured faster: it ships

    recipe = {"model": {"name": "lenet5"}, "steps": [{"type": "quantize"}], "profile": FAST_PROFILE}
    result = edgecnn.optimize(lenet_spec, recipe=recipe, out_dir=tmp_path / "out")
    on_disk = json.loads(result.report_path.read_text())
    assert json.loads(json.dumps(result.report)) == on_disk
    assert set(on_disk) == set(Report.model_fields)
    typed = result.typed_report
    assert isinstance(typed, Report) and typed.optimized.precision == "int8" and typed.stage_seconds["profile"] >= 0
    assert typed.speedup == result.speedup and typed.steps[0].type == "quantize"


def test_an_invalid_report_fails_the_run_before_anything_is_written(lenet_spec, tmp_path, monkeypatch):
    import edgecnn
    from edgecnn.pipeline import runner

    def broken_gates(report, recipe):
        report["gates"].append({"name": "broken", "threshold": None, "passed": "maybe"})

    monkeypatch.setattr(runner, "_gates", broken_gates)
    recipe = {"model": {"name": "lenet5"}, "steps": [], "profile": FAST_PROFILE}
    with pytest.raises(InternalError, match=r"gates\.0\.threshold.*gates\.0\.passed"):
        edgecnn.optimize(lenet_spec, recipe=recipe, out_dir=tmp_path / "out")
    assert not list((tmp_path / "out").glob("report.*"))

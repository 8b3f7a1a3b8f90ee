"""The typed report: the published JSON Schema is the model's, and write_report validates before writing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecnn.errors import InternalError
from edgecnn.report.build import new_report, validate_report, write_report
from edgecnn.report.schema import REGENERATE, REPORT_SCHEMA_VERSION, Report, report_json_schema

SCHEMA_FILE = Path(__file__).parents[2] / "docs" / "report.schema.json"


def _report() -> dict:
    report = new_report(
        model={"name": "tiny", "source": "zoo:tiny", "weights": "random", "input": {"shape": [1, 3, 8, 8]}},
        recipe={"model": {"name": "tiny"}},
        target="onnxruntime",
        environment={"cpu": "test", "cores": 2, "versions": {"onnxruntime": "1.0"}, "threads": 2},
    )
    times = [2.0, 2.1, 2.2, 2.3]
    stats = {k: float(v) for k, v in zip(("p50", "p90", "p95", "p99", "mean", "std", "min", "max"), times * 2)}
    report["baseline"] = {"latency_ms": stats, "times_ms": times, "precision": "fp32", "size_bytes": 4000}
    report["optimized"] = {"latency_ms": stats, "times_ms": times, "precision": "int8", "size_bytes": np.int64(1000)}
    report["fidelity"] = {"top1_agreement": 0.97, "top5_overlap": 0.99, "sqnr_db": float("inf"), "samples": 8}
    report["steps"].append({"type": "quantize", "config": {"precision": "int8"}, "report": {}, "seconds": 0.5})
    report["artifacts"].append({"role": "optimized", "path": Path("m.onnx"), "format": "onnx", "bytes": 1000})
    report["gates"].append({"name": "min_speedup", "threshold": 1.0, "value": None, "passed": None, "reason": "n/a"})
    report["speedup"] = np.float64(1.0)
    return report


def test_committed_schema_is_the_generated_one():
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == report_json_schema(), f"docs/report.schema.json is stale; regenerate it: {REGENERATE}"


def test_schema_requires_every_field_and_forbids_unknown_ones():
    schema = report_json_schema()
    assert schema["$schema"].endswith("2020-12/schema") and schema["additionalProperties"] is False
    assert set(schema["required"]) == set(Report.model_fields)
    assert schema["properties"]["schema_version"]["const"] == REPORT_SCHEMA_VERSION == 3


def test_written_report_validates_against_the_published_schema(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    paths = write_report(_report(), tmp_path)
    data = json.loads(paths["json"].read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text())).validate(data)
    assert set(data) == set(Report.model_fields)  # every field present, null when it does not apply
    assert data["device_environment"] is None and data["accuracy_delta"] is None
    assert data["optimized"]["size_bytes"] == 1000 and data["artifacts"][0]["path"] == "m.onnx"
    assert data["artifacts"][0]["sha256"] is None and data["baseline"]["throughput"] is None
    assert data["fidelity"]["top5_overlap"] == 0.99 and data["fidelity"]["sqnr_db"] == float("inf")
    assert "| precision | fp32 | int8 |" in paths["md"].read_text()
    assert "tiny" in paths["html"].read_text()


def test_top1_agreement_is_a_fraction():
    for value in (0.0, 0.5, 1.0):
        report = _report()
        report["fidelity"]["top1_agreement"] = value
        assert validate_report(report).fidelity.top1_agreement == value
    for wrong in (-0.1, 97.5):  # a percentage is a unit error
        report["fidelity"]["top1_agreement"] = wrong
        with pytest.raises(InternalError, match="fidelity.top1_agreement"):
            validate_report(report)


@pytest.mark.parametrize(
    "edit, field",
    [
        (lambda r: r.pop("environment"), "environment"),
        (lambda r: r.update(surprise=1), "surprise"),
        (lambda r: r["gates"].append({"name": "x", "threshold": "high", "passed": True}), "gates.1.threshold"),
        (lambda r: r["baseline"]["latency_ms"].pop("p50"), "baseline.latency_ms.p50"),
        (lambda r: r["artifacts"].append({"role": "weird", "path": "x", "format": "onnx"}), "artifacts.1.role"),
        (lambda r: r["optimized"].update(latency_p50=1.0), "optimized.latency_p50"),
        (lambda r: r.update(schema_version=1), "schema_version"),
    ],
)
def test_an_invalid_report_is_an_internal_error_naming_the_field_and_nothing_is_written(tmp_path, edit, field):
    report = _report()
    edit(report)
    with pytest.raises(InternalError, match=field.replace(".", r"\.")):
        write_report(report, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_write_report_accepts_a_typed_report(tmp_path):
    typed = validate_report(_report())
    assert isinstance(typed, Report) and typed.optimized.precision == "int8"
    paths = write_report(typed, tmp_path)
    assert json.loads(paths["json"].read_text())["target"] == "onnxruntime"


def _cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    from edgecnn.cli.main import run

    monkeypatch.setattr(sys, "argv", ["edgecnn", *args])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_prints_the_schema_and_validates_reports(capsys, monkeypatch, tmp_path):
    code, out, err = _cli(capsys, monkeypatch, "report", "--schema")
    assert code == 0, err
    assert json.loads(out) == report_json_schema()

    paths = write_report(_report(), tmp_path)
    code, out, err = _cli(capsys, monkeypatch, "report", "--validate", str(paths["json"]))
    assert code == 0 and "valid" in out, err

    bad = tmp_path / "bad" / "report.json"
    bad.parent.mkdir()
    data = json.loads(paths["json"].read_text())
    del data["gates"]
    bad.write_text(json.dumps(data))
    code, out, err = _cli(capsys, monkeypatch, "report", "--validate", str(bad))
    assert code == 2 and "gates" in err and "Traceback" not in err
    bad.unlink()  # leave no invalid report.json for the suite-wide schema check

    profile = tmp_path / "x.profile.json"
    profile.write_text(json.dumps({"kind": "profile", "schema_version": 1}))
    code, out, err = _cli(capsys, monkeypatch, "report", "--validate", str(profile))
    assert code == 2 and "profile" in err


def test_a_report_read_back_must_have_every_field():
    data = validate_report(_report()).to_dict()
    assert validate_report(data, complete=True).target == "onnxruntime"
    del data["optimized"]["clock"]
    del data["notes"]
    validate_report(data)  # a report being built may leave out what is null or empty
    with pytest.raises(InternalError, match=r"notes: Field required.*optimized\.clock: Field required"):
        validate_report(data, complete=True)

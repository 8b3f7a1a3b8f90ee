"""Suite YAML validation: expansion into cases, clear errors for mistakes, the shipped suites parse."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from edgecnn.bench.suite import load_suite, parse_suite
from edgecnn.errors import InvalidInputError
from edgecnn.profiling.timing import BENCH_PROTOCOL

SUITES = Path(__file__).resolve().parents[2] / "benchmarks" / "suites"


def _suite(**overrides):
    data = {"name": "t", "cases": [{"model": "lenet5", "precision": ["fp32", "int8"], "batch": [1, 4], "threads": 1}]}
    data.update(overrides)
    return data


def test_cases_expand_over_precisions_batches_threads():
    suite = parse_suite(_suite())
    assert [c.id for c in suite.cases] == [
        "lenet5/fp32/onnxruntime/b1/t1",
        "lenet5/fp32/onnxruntime/b4/t1",
        "lenet5/int8/onnxruntime/b1/t1",
        "lenet5/int8/onnxruntime/b4/t1",
    ]
    assert suite.protocol.rounds == 12 and suite.metric == "p10"


def test_protocol_and_rounds_override():
    suite = parse_suite(_suite(protocol={"rounds": 4, "min_seconds": 1.0, "min_iters": 40}))
    more = suite.with_rounds(8)
    assert (
        more.protocol.rounds == 8 and more.protocol.min_seconds == pytest.approx(2.0) and more.protocol.min_iters == 80
    )


@pytest.mark.parametrize(
    "data, message",
    [
        ({"cases": [{"model": "lenet5"}]}, "name: required field is missing"),
        (_suite(extra=1), "unknown key"),
        (_suite(cases=[{"model": "lenet6"}]), "unknown zoo model 'lenet6'.*lenet5"),
        (_suite(cases=[{"model": "lenet5", "precision": "int4"}]), r"cases\[0\].precision: Input should be 'fp32'"),
        (_suite(cases=[{"model": "lenet5", "batch": 0}]), "greater than or equal to 1"),
        (_suite(cases=[{"model": "lenet5", "threads": "two"}]), r"cases\[0\].threads: Input should be a valid integer"),
        (_suite(cases=[{"model": "lenet5", "target": "tpu"}]), "'tpu' is not one of"),
        (_suite(cases=[{"model": "lenet5"}, {"model": "lenet5"}]), "appears twice"),
        (_suite(cases=[{"model": "lenet5", "artifact": "x.onnx"}]), "exactly one of"),
        (_suite(cases=[{"artifact": "missing.onnx"}]), "artifact not found"),
        (_suite(cases=[]), "cases: List should have at least 1 item"),
        (_suite(metric="median"), "unknown metric"),
        (_suite(protocol={"rounds": 0}), "protocol: invalid timing protocol.*rounds >= 1"),
        (_suite(protocol={"rounds": "many"}), "protocol.rounds: Input should be a valid integer"),
        (_suite(protocol={"round": 3}), "protocol.round: unknown key"),
        (_suite(gates=[{"type": "speedup", "model": "resnet18"}]), "no case matches"),
        (_suite(gates=[{"type": "speedup", "model": "lenet5", "reference": "fp16"}]), "no reference case"),
        (_suite(gates=[{"type": "max_size", "max": 1}]), r"gates\[0\].max: unknown key"),
        (_suite(gates=[{"type": "faster"}]), "tag 'faster'.*'speedup', 'accuracy_drop', 'max_size'"),
    ],
)
def test_mistakes_are_clear_errors(data, message):
    with pytest.raises(InvalidInputError, match=message):
        parse_suite(data)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: t\ncases:\n  - model: lenet5\n    batch: 0\n", "s.yaml:4: cases[0].batch: Input should be greater"),
        ("name: t\nprotocol:\n  round: 3\ncases:\n  - model: lenet5\n", "s.yaml:3: protocol.round: unknown key"),
        ("name: t\ncases:\n  - model: lenet6\n", "s.yaml:3: cases[0].model: unknown zoo model 'lenet6'"),
        (
            "name: t\ncases:\n  - model: lenet5\n  - model: lenet5\n",
            "s.yaml:4: cases[1]: case lenet5/fp32/onnxruntime/b1/t1 appears twice",
        ),
        (
            "name: t\ncases:\n  - model: lenet5\ngates:\n  - {type: speedup, model: vgg}\n",
            "s.yaml:5: gates[0]: no case matches model=vgg",
        ),
        ("name: t\ncases: [{model: lenet5}\n", "s.yaml:3: not valid YAML"),
    ],
)
def test_file_errors_are_one_line_naming_the_line(tmp_path, text, expected):
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(InvalidInputError) as info:
        load_suite(tmp_path / "s.yaml")
    message = str(info.value)
    assert message.startswith(str(tmp_path / expected.split(":")[0])) and expected in message, message
    assert "\n" not in message


def test_protocol_fields_override_the_bench_preset():
    assert parse_suite(_suite()).protocol == BENCH_PROTOCOL
    assert parse_suite(_suite(protocol={"rounds": 4})).protocol == dataclasses.replace(BENCH_PROTOCOL, rounds=4)


def test_bad_yaml_file(tmp_path):
    (tmp_path / "s.yaml").write_text("name: [unclosed")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_suite(tmp_path / "s.yaml")
    with pytest.raises(InvalidInputError, match="not found"):
        load_suite(tmp_path / "none.yaml")


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suites_parse(path):
    suite = load_suite(path)
    assert suite.cases and suite.name == path.stem


def test_accuracy_gate_needs_trained_weights():
    with pytest.raises(InvalidInputError, match="weights: digits"):
        parse_suite(_suite(gates=[{"type": "accuracy_drop", "model": "lenet5", "precision": "int8", "max": 1}]))
    suite = parse_suite(
        _suite(
            cases=[{"model": "lenet5", "weights": "digits", "precision": ["fp32", "int8"]}],
            gates=[{"type": "accuracy_drop", "model": "lenet5", "precision": "int8", "max": 1}],
        )
    )
    assert suite.gates[0].reference == "fp32" and suite.gates[0].threshold == 1.0


def test_example_ci_workflow_points_at_shipped_files():
    root = SUITES.parents[1]
    workflow = yaml.safe_load((root / "docs" / "ci" / "edgecnn-bench.yml").read_text())
    commands = " ".join(step.get("run", "") for step in workflow["jobs"]["latency"]["steps"])
    assert "edgecnn bench run benchmarks/suites/ci-small.yaml" in commands and "--junit" in commands
    assert (root / "benchmarks" / "suites" / "ci-small.yaml").is_file()
    assert (root / "benchmarks" / "baselines" / "ci-small.json").is_file()

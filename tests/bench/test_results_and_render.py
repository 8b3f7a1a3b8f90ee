"""Results files: corrupt or foreign files give one clear error; Markdown and JUnit outputs are well formed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from edgecnn.bench.compare import compare_results
from edgecnn.bench.render import comparison_junit, comparison_markdown
from edgecnn.bench.results import load_results, write_results
from edgecnn.errors import InvalidInputError

A, B = "lenet5/fp32/onnxruntime/b1/t1", "smallcnn/fp32/onnxruntime/b1/t1"


def test_round_trip(tmp_path, synth):
    res = synth.results([synth.case(A, synth.rounds(0.05))])
    write_results(res, tmp_path / "r.json")
    assert load_results(tmp_path / "r.json") == res


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"schema_version": 1, "model": {}}', "not an edgecnn bench results file"),
        ("[1, 2]", "not an edgecnn bench results file"),
        ('{"schema": "edgecnn.bench.results", "schema_version": 99}', "version 99 is not supported"),
        (
            '{"schema": "edgecnn.bench.results", "schema_version": 1, "suite": {}, "environment": {}}',
            "corrupt results file: cases: required field is missing",
        ),
    ],
)
def test_corrupt_or_foreign_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=message):
        load_results(path)


def test_malformed_case(tmp_path, synth):
    res = synth.results([synth.case(A, synth.rounds(0.05))])
    res["cases"][0]["rounds_ms"] = [["fast"]]
    (tmp_path / "r.json").write_text(json.dumps(res))
    with pytest.raises(InvalidInputError, match=r"corrupt results file: cases\[0\].rounds_ms\[0\]\[0\]: Input"):
        load_results(tmp_path / "r.json")
    del res["cases"][0]["rounds_ms"]
    (tmp_path / "r.json").write_text(json.dumps(res))
    with pytest.raises(InvalidInputError, match=r"cases\[0\].rounds_ms: required field is missing"):
        load_results(tmp_path / "r.json")


def test_malformed_reference_is_named(tmp_path, synth):
    res = synth.results([synth.case(A, synth.rounds(0.05))])
    res["reference"] = {"id": "anchor", "rounds_ms": "fast"}
    (tmp_path / "r.json").write_text(json.dumps(res))
    with pytest.raises(InvalidInputError, match=r"r.json: corrupt results file: reference.rounds_ms: Input should be"):
        load_results(tmp_path / "r.json")


def test_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="not found"):
        load_results(tmp_path / "nope.json")


@pytest.fixture
def comparison(synth):
    base = synth.results(
        [
            synth.case(A, synth.rounds(0.05, seed=1)),
            synth.case(B, synth.rounds(0.3, seed=2)),
            synth.case("gone/fp32/onnxruntime/b1/t1", synth.rounds(1.0)),
        ]
    )
    slow = [[t * 1.4 for t in r] for r in synth.rounds(0.3, seed=4)]
    cur = synth.results(
        [
            synth.case(A, synth.rounds(0.05, seed=3)),
            synth.case(B, slow),
            synth.case("fresh|new/fp32/onnxruntime/b1/t1", synth.rounds(1.0)),
        ],
        gates=[
            {
                "name": "x <at> 1 MB",
                "type": "max_size",
                "case": A,
                "reference": None,
                "threshold": 1.0,
                "value": 0.2,
                "ci": None,
                "verdict": "pass",
                "reason": "0.2 MB & fine",
            }
        ],
    )
    return compare_results(base, cur)


def test_junit_one_testcase_per_case(comparison):
    root = ET.fromstring(comparison_junit(comparison))
    latency, gates = root.findall("testsuite")
    cases = latency.findall("testcase")
    assert [c.get("name") for c in cases] == [c.id for c in comparison.cases]
    assert latency.get("tests") == "4" and latency.get("failures") == "2" and latency.get("skipped") == "1"
    failed = {c.get("name"): c.find("failure").get("type") for c in cases if c.find("failure") is not None}
    assert failed == {B: "regression", "gone/fp32/onnxruntime/b1/t1": "missing"}
    assert gates.get("tests") == "1" and gates.find("testcase").find("failure") is None


def test_markdown_summary(comparison):
    md = comparison_markdown(comparison)
    assert md.startswith("## edgecnn bench: unit FAILED")
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert len(rows) == 4
    assert all(
        len(line.replace("\\|", "").split("|")) == 9 for line in rows
    )  # 7 cells: escaped pipes keep the table intact
    assert "| x &lt;at&gt; 1 MB | `lenet5/fp32/onnxruntime/b1/t1` | 0.200 | ✅ pass: 0.2 MB & fine |" in md
    assert "### Failures" in md and "regression" in md

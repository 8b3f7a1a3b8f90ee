"""`edgecnn bench` end to end on a tiny suite: run, compare, ab; exit codes 0 / 2 / 3; JUnit and Markdown files."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

from edgecnn.cli.main import run as cli_main

FAST = {"rounds": 3, "min_seconds": 0.3, "min_iters": 30, "warmup": 2, "pause_s": 0.0}


def cli(monkeypatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["edgecnn", *args])
    try:
        cli_main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def suite_file(tmp_path_factory, lenet_onnx_dynamic):
    folder = tmp_path_factory.mktemp("suite")
    (folder / "tiny.onnx").write_bytes(lenet_onnx_dynamic.path.read_bytes())
    data = {
        "name": "tiny",
        "protocol": FAST,
        "cases": [
            {"artifact": "tiny.onnx", "name": "tiny", "threads": 1},
            {"model": "smallcnn", "precision": "fp32", "batch": 2, "threads": 1},
        ],
        "gates": [{"type": "max_size", "model": "tiny", "max_mb": 5}],
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def results_file(suite_file, tmp_path_factory):
    """One real `bench run` shared by the tests below (module-scoped monkeypatch is not available)."""
    out = tmp_path_factory.mktemp("results") / "results.json"
    mp = pytest.MonkeyPatch()
    try:
        assert (
            cli(mp, "bench", "run", str(suite_file), "--out", str(out), "--markdown", str(out.with_suffix(".md"))) == 0
        )
    finally:
        mp.undo()
    return out


def test_run_writes_results_with_per_iteration_timings(results_file):
    data = json.loads(results_file.read_text())
    assert [c["id"] for c in data["cases"]] == ["tiny/fp32/onnxruntime/b1/t1", "smallcnn/fp32/onnxruntime/b2/t1"]
    for case in data["cases"]:
        assert len(case["rounds_ms"]) == 3 and all(len(r) >= 10 for r in case["rounds_ms"])
        assert len(case["artifact"]["sha256"]) == 64 and case["artifact"]["bytes"] > 0
    assert data["environment"]["cores"] and data["environment"]["versions"]["onnxruntime"]
    assert len(data["reference"]["rounds_ms"]) == 3  # the reference workload ran in the same rounds
    assert data["gates"][0]["verdict"] == "pass"
    assert "| `tiny/fp32/onnxruntime/b1/t1` |" in results_file.with_suffix(".md").read_text()


def test_compare_with_itself_passes_and_writes_outputs(monkeypatch, results_file, tmp_path):
    md, junit, js = tmp_path / "s.md", tmp_path / "j.xml", tmp_path / "c.json"
    code = cli(
        monkeypatch,
        "bench",
        "compare",
        str(results_file),
        str(results_file),
        "--max-regression",
        "10%",
        "--markdown",
        str(md),
        "--junit",
        str(junit),
        "--json",
        str(js),
    )
    assert code == 0
    assert "passed" in md.read_text().splitlines()[0]
    assert len(ET.parse(junit).getroot().find("testsuite").findall("testcase")) == 2
    assert json.loads(js.read_text())["passed"] is True


def test_compare_detects_a_regression_with_exit_3(monkeypatch, results_file, tmp_path):
    data = json.loads(results_file.read_text())
    # 3x, not 1.5x: the rounds come from a real run on a shared machine, and their own spread can make a
    # 1.5x slowdown's interval straddle the threshold (inconclusive, exit 0) when the machine is busy
    data["cases"][1]["rounds_ms"] = [[t * 3.0 for t in r] for r in data["cases"][1]["rounds_ms"]]
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(data))
    assert cli(monkeypatch, "bench", "compare", str(results_file), str(slow), "--metric", "p50") == 3


def test_user_errors_exit_2(monkeypatch, results_file, tmp_path):
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text(results_file.read_text()[:100])
    assert cli(monkeypatch, "bench", "compare", str(results_file), str(corrupt)) == 2
    other = json.loads(results_file.read_text())
    other["environment"]["cores"] = 64
    moved = tmp_path / "other-machine.json"
    moved.write_text(json.dumps(other))
    reports = [tmp_path / "summary.md", tmp_path / "junit.xml", tmp_path / "compare.json"]
    flags = ["--markdown", str(reports[0]), "--junit", str(reports[1]), "--json", str(reports[2])]
    assert cli(monkeypatch, "bench", "compare", str(results_file), str(moved), *flags) == 2
    # CI still gets its reports, and each says why nothing was compared
    assert all("cores" in p.read_text() for p in reports)
    assert json.loads(reports[2].read_text())["compared"] is False and "<error" in reports[1].read_text()
    assert cli(monkeypatch, "bench", "compare", str(results_file), str(moved), "--allow-env-mismatch") == 0
    assert cli(monkeypatch, "bench", "compare", str(results_file), str(results_file), "--max-regression", "ten") == 2
    assert cli(monkeypatch, "bench", "run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "x.json")) == 2


def test_run_exits_3_when_a_gate_fails(monkeypatch, suite_file, tmp_path):
    data = yaml.safe_load(suite_file.read_text())
    data["cases"] = data["cases"][:1]
    data["gates"] = [{"type": "max_size", "model": "tiny", "max_mb": 0.001}]
    path = suite_file.parent / "gated.yaml"
    path.write_text(yaml.safe_dump(data))
    assert cli(monkeypatch, "bench", "run", str(path), "--out", str(tmp_path / "r.json")) == 3
    assert json.loads((tmp_path / "r.json").read_text())["gates"][0]["verdict"] == "fail"


def test_ab_interleaved(monkeypatch, lenet_onnx_dynamic, tmp_path):
    copy = tmp_path / "b.onnx"
    copy.write_bytes(lenet_onnx_dynamic.path.read_bytes())
    out = tmp_path / "ab.json"
    code = cli(
        monkeypatch,
        "bench",
        "ab",
        str(lenet_onnx_dynamic.path),
        str(copy),
        "--rounds",
        "4",
        "--seconds",
        "0.4",
        "--json",
        str(out),
    )
    result = json.loads(out.read_text())
    assert code == (3 if result["verdict"] == "regression" else 0)
    assert len(result["rounds_ms"]["A"]) == len(result["rounds_ms"]["B"]) == 4
    assert result["latency"]["ci_low"] <= result["latency"]["ratio"] <= result["latency"]["ci_high"]
    assert cli(monkeypatch, "bench", "ab", str(lenet_onnx_dynamic.path), str(lenet_onnx_dynamic.path)) == 2

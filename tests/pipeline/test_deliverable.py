"""The deliverable is the fastest measured artifact: a reduced-precision model ships only when the pipeline's own
interleaved comparison on the target finds it faster than float; otherwise the float model ships (and bundles),
the int8 one stays as a variant with its measured ratio, and a speed-up gate still fails (exit 3).

The comparison's numbers are planted (`plant_speed`, tests/conftest.py): timing tiny models on a shared CPU
decides nothing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edgecnn.pipeline import runner

FAST_PROFILE = {"min_iters": 10, "min_seconds": 0.05, "rounds": 2, "warmup": 2}
SLOWER = (2.0, 1.9, 2.1)  # int8 / fp32 latency ratio and its interval
INCONCLUSIVE = (0.97, 0.9, 1.05)
FASTER = (0.5, 0.45, 0.55)


def bundled_precisions(report: dict) -> list[str]:
    bundle = next(a for a in report["artifacts"] if a["role"] == "bundle")
    manifest = json.loads((Path(bundle["path"]) / "manifest.json").read_text())
    return [m["precision"] for m in manifest["artifacts"]]


def optimize(lenet_spec, tmp_path, steps: list[dict]):
    import edgecnn

    recipe = {
        "model": {"name": "lenet5"},
        "steps": steps,
        "data": {"calib_size": 16},
        "profile": FAST_PROFILE,
        "gates": {"require_speedup": True},
    }
    return edgecnn.optimize(lenet_spec, recipe=recipe, out_dir=tmp_path / "out")


@pytest.mark.parametrize(
    "steps, planted, word, shipped",
    [
        ([{"type": "quantize"}], SLOWER, "slower", "baseline.fp32.onnx"),
        ([{"type": "fold_bn"}, {"type": "quantize"}], INCONCLUSIVE, "not faster", "model.fp32.onnx"),
    ],
)
def test_int8_not_faster_ships_the_float_model_and_fails_the_speedup_gate(
    lenet_spec, tmp_path, plant_speed, steps, planted, word, shipped
):
    plant_speed(*planted)
    result = optimize(lenet_spec, tmp_path, steps)
    report = result.report

    delivered = report["deliverable"]
    assert delivered["precision"] == "fp32" and delivered["requested"] == "int8"
    assert Path(delivered["artifact"]).name == shipped and delivered["ratio"] == planted[0]
    assert f"int8 measured {1 / planted[0]:.2f}x of fp32 on onnxruntime" in delivered["why"]
    assert delivered["why"].endswith(f"{word}, so the float model was delivered")
    assert report["optimized"]["precision"] == "fp32" and report["optimized"]["latency_ms"] is not None
    roles = {a["role"]: a for a in report["artifacts"]}
    assert Path(roles["optimized"]["path"]).name == shipped and roles["optimized"]["precision"] == "fp32"
    assert Path(roles["quantized"]["path"]).name == "model.int8.onnx" and Path(roles["quantized"]["path"]).exists()
    assert bundled_precisions(report) == ["fp32"]
    lost = [v for v in report["variants"] if v["name"].startswith("int8 (not delivered")]
    assert len(lost) == 1 and lost[0]["latency_ratio"] == planted[0] and lost[0]["chosen"] is False

    gate = next(g for g in report["gates"] if g["name"] == "min_speedup")
    assert gate["passed"] is False and gate["value"] == pytest.approx(1 / planted[0])
    assert runner.failed_gates_message(result)  # the CLI exits 3 on it
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"**Delivered: fp32 ({shipped})" in md
    assert "Delivered: fp32" in (tmp_path / "out" / "report.html").read_text()


def test_int8_faster_ships_int8_as_before(lenet_spec, tmp_path, plant_speed):
    plant_speed(*FASTER)
    result = optimize(lenet_spec, tmp_path, [{"type": "fold_bn"}, {"type": "quantize"}])
    report = result.report
    assert report["deliverable"]["precision"] == "int8" and report["deliverable"]["verdict"] == "faster"
    assert "2.00x of fp32" in report["deliverable"]["why"]
    roles = {a["role"]: a for a in report["artifacts"]}
    assert Path(roles["optimized"]["path"]).name == "model.int8.onnx" and "quantized" not in roles
    assert report["optimized"]["precision"] == "int8" and bundled_precisions(report) == ["int8"]
    assert not [v for v in report["variants"] if "not delivered" in v["name"]]
    assert result.gates_passed == (report["speedup"] >= 1.0)  # the gate reads the measured p50s, as before


def test_cli_says_what_was_delivered_and_exits_3(tmp_path, plant_speed, monkeypatch, capsys):
    from edgecnn.cli import main

    plant_speed(*SLOWER)
    recipe = {
        "model": {"name": "lenet5", "weights": "random"},
        "steps": [{"type": "quantize"}],
        "data": {"calib_size": 16},
        "profile": FAST_PROFILE,
    }
    (tmp_path / "r.yaml").write_text(json.dumps(recipe))  # JSON is YAML
    out = tmp_path / "o"
    argv = ["optimize", "--recipe", str(tmp_path / "r.yaml"), "--require-speedup", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["edgecnn", *argv])
    assert main._run() == 3
    captured = capsys.readouterr()
    said = " ".join(captured.out.split())
    assert "Delivered: fp32 (baseline.fp32.onnx): int8 measured 0.50x of fp32 on onnxruntime" in said
    assert "wrote quantized" in said and "model.int8.onnx" in said
    assert "gate failed" in captured.err and "min_speedup 0.5 vs threshold 1.0" in " ".join(captured.err.split())

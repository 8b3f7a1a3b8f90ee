"""`edgecnn profile` and `edgecnn agent` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from edgecnn.cli.main import app


def test_profile_prints_json_and_writes_it(lenet_onnx_dynamic, tmp_path):
    out = tmp_path / "result.json"
    res = CliRunner().invoke(
        app,
        [
            "profile",
            str(lenet_onnx_dynamic.path),
            "--baseline",
            str(lenet_onnx_dynamic.path),
            "--threads",
            "1",
            "--min-iters",
            "5",
            "--min-seconds",
            "0.01",
            "--rounds",
            "1",
            "--warmup",
            "1",
            "--no-roofline",
            "--json",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    d = json.loads(out.read_text())
    assert d["target"] == "onnxruntime" and d["speedup"] > 0 and d["baseline"]["iterations"] >= 5
    assert json.loads(res.stdout)["optimized"]["latency_ms"]["p50"] == d["optimized"]["latency_ms"]["p50"]


def test_profile_table_and_user_errors(lenet_onnx_dynamic, tmp_path):
    res = CliRunner().invoke(
        app,
        [
            "profile",
            str(lenet_onnx_dynamic.path),
            "--threads",
            "1",
            "--min-iters",
            "5",
            "--min-seconds",
            "0.01",
            "--out",
            str(tmp_path / "r.json"),
        ],
    )
    assert res.exit_code == 0 and "p50 ms" in res.stdout and "throughput" in res.stdout
    for argv, message in (
        (["profile", str(tmp_path / "none.onnx")], "artifact not found"),
        (["profile", str(lenet_onnx_dynamic.path), "--target", "nope"], "unknown target"),
        (["agent", "serve", "--port", "0"], "needs a shared token"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "edgecnn.cli.main", *argv],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
            cwd=tmp_path,
        )
        assert proc.returncode == 2 and message in proc.stderr, (argv, proc.stderr)

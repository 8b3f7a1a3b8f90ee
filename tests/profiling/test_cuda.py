"""CUDA event timing (runs where a GPU exists), and the CPU-side checks of the prepared GPU benchmark script."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.profiling.timing import TimingProtocol

QUICK = TimingProtocol(warmup=2, min_iters=10, min_seconds=0.01, rounds=2, pause_s=0.0)
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_profile.py"


def _gpu_script():
    if str(SCRIPT.parent) not in sys.path:  # the script imports benchmarks/output.py, as `python benchmarks/...` does
        sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("gpu_profile", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_profile"] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def test_cuda_timer_refuses_a_cpu_session(lenet_spec, lenet_onnx_dynamic):
    from edgecnn.profiling.cuda import measure_torch_cuda
    from edgecnn.runtime import load_session

    with pytest.raises(InvalidInputError, match="device='cuda'"):
        measure_torch_cuda(load_session(lenet_spec, threads=1), lenet_spec.example_input(1).numpy(), QUICK)
    with pytest.raises(InvalidInputError, match="device='cuda'"):
        measure_torch_cuda(load_session(lenet_onnx_dynamic, threads=1), lenet_spec.example_input(1).numpy(), QUICK)


def test_gpu_script_plan_and_arguments(capsys):
    gpu = _gpu_script()
    variants, skipped = gpu.plan(["mobilenet_v2", "resnet50"], [1, 8], ort_cuda=False, tensorrt=False)
    assert {(v.model, v.batch, v.name) for v in variants} >= {
        ("resnet50", 8, "torch_fp16"),
        ("mobilenet_v2", 1, "torch_bf16"),
    }
    assert all("TensorRT is not installed" in s["reason"] for s in skipped if s["variant"] == "int8")
    assert any(s["variant"] == "ort_cuda_fp32" for s in skipped)
    with_ort, _ = gpu.plan(["resnet50"], [1], ort_cuda=True, tensorrt=True)
    assert [v.name for v in with_ort] == ["torch_fp16", "torch_bf16", "ort_cuda_fp32"]
    assert gpu.main(["--dry-run", "--models", "resnet50", "--batch", "2"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert {v["batch"] for v in plan["variants"]} == {2}
    with pytest.raises(SystemExit):
        gpu.parse_args(["--batch", "0"])
    with pytest.raises(SystemExit):
        gpu.parse_args(["--device", "cpu"])


def test_gpu_script_report_and_cross_runtime_speedup():
    gpu = _gpu_script()
    runs = [
        {
            "model": "m",
            "batch": 1,
            "name": "torch_fp16",
            "runtime": "torch",
            "baseline_p50_ms": 4.0,
            "p50_ms": 2.0,
            "speedup": 2.0,
            "h2d_ms": {"p50": 0.05},
            "memory": {"gpu_peak_allocated_bytes": 50e6},
            "notes": [],
        },
        {
            "model": "m",
            "batch": 1,
            "name": "ort_cuda_fp32",
            "runtime": "onnxruntime",
            "baseline_p50_ms": None,
            "p50_ms": 3.2,
            "speedup": None,
            "h2d_ms": None,
            "memory": {},
            "notes": [],
        },
    ]
    gpu.fill_cross_runtime_speedups(runs)
    assert runs[1]["speedup"] == pytest.approx(1.25) and "not interleaved" in runs[1]["notes"][0]
    md = gpu.to_markdown(
        {
            "gpu": "H100",
            "command": "x",
            "runs": runs,
            "skipped": [{"variant": "int8", "model": "m", "batch": "1", "reason": "r"}],
        }
    )
    assert "| m | 1 | torch_fp16 | 4.000 | 2.000 | 2.00x | 0.050 | 50 |" in md and "Skipped int8" in md


@pytest.mark.cuda
def test_cuda_events_time_fp16_against_fp32_with_copies_apart(lenet_spec):
    import edgecnn

    spec = lenet_spec.copy()  # the torch sessions move the module to CUDA (and fp16) in place
    r = edgecnn.profile(
        spec, target="cuda", baseline=spec, precision="fp16", protocol=QUICK, roofline=False, channels_last=True
    )
    assert (
        r.optimized.clock == "cuda_event"
        and r.optimized.h2d_ms
        and len(r.optimized.h2d_ms) == len(r.optimized.times_ms)
    )
    assert r.memory["optimized"]["gpu_peak_allocated_bytes"] > 0 and r.sessions["optimized"]["precision"] == "float16"
    assert r.fidelity["max_abs_error"] < 1e-2

"""Acceptance benchmark for profiling: five runtimes x four zoo models in one table, plus repeatability.

For mobilenet_v2, efficientnet_b0, resnet18 and resnet50 at 224x224, batch 1: PyTorch eager fp32,
ONNX Runtime fp32 / int8 (QDQ U8S8 per-channel) and OpenVINO fp32 / int8 (OpenVINO running the same
QDQ ONNX), timed interleaved in one process per model, with speed-ups against PyTorch eager and ONNX
Runtime fp32, and achieved MAC/s as a share of this machine's measured fp32 and int8 peaks.
Repeatability: the same artifact profiled 5 times with `edgecnn.profile`; the spread of the medians.

    # writes benchmarks/results/profile.{json,md}
    flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/profile_models.py

Weights are random (no model hub offline): latency does not depend on them; int8 is calibrated on the
default photo set. The machine is shared and noisy: read the ratios, not the absolute milliseconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

MODELS = ("mobilenet_v2", "efficientnet_b0", "resnet18", "resnet50")
VARIANTS = ("torch_fp32", "ort_fp32", "ort_int8", "ov_fp32", "ov_int8")
log = logging.getLogger("benchmarks.profile_models")


def quantize_int8(fp32_path: Path, out: Path, calibration: np.ndarray) -> tuple[Path, str]:
    """int8 QDQ U8S8 per-channel: `edgecnn.quantize` when it has landed, else ONNX Runtime's quantize_static."""
    import edgecnn

    if "quantize" in getattr(edgecnn, "_API", {}):
        result = edgecnn.quantize(
            str(fp32_path), target="onnxruntime", precision="int8", calib_data=calibration, out=str(out)
        )
        return Path(result.artifact.path), "edgecnn.quantize (target onnxruntime)"
    from edgecnn.profiling.roofline import quantize_u8s8

    return quantize_u8s8(fp32_path, out, calibration), "onnxruntime.quantization.quantize_static U8S8 per-channel"


def bench_model(name: str, workdir: Path, *, threads: int, protocol: Any, calib_size: int) -> dict[str, Any]:
    import torch

    from edgecnn.exporters.onnx import export_onnx, output_error
    from edgecnn.profiling.memory import file_bytes
    from edgecnn.profiling.roofline import get_peak, model_macs, roofline_entry
    from edgecnn.profiling.timing import compare_interleaved
    from edgecnn.quant.calibration import load_calibration
    from edgecnn.runtime import load_session
    from edgecnn.zoo import load_model

    torch.manual_seed(0)
    spec = load_model(name, weights="random")
    t0 = time.perf_counter()
    fp32 = export_onnx(spec, workdir / f"{name}_fp32.onnx", check=False).path
    calibration = load_calibration(None, spec, size=calib_size, seed=0)
    int8, quantizer = quantize_int8(fp32, workdir / f"{name}_int8.onnx", calibration)
    prep_s = time.perf_counter() - t0
    sessions = {
        "torch_fp32": load_session(spec, backend="torch", threads=threads),
        "ort_fp32": load_session(fp32, threads=threads),
        "ort_int8": load_session(int8, threads=threads),
        "ov_fp32": load_session(fp32, backend="openvino", threads=threads, precision="fp32"),
        "ov_int8": load_session(
            int8, backend="openvino", threads=threads, precision="fp32"
        ),  # f32 hint: quantized layers still run int8
    }
    x = calibration[:1]
    ref = sessions["torch_fp32"].run(x)[0]
    fidelity = {k: output_error(ref, s.run(x)[0]) for k, s in sessions.items()}
    stats = compare_interleaved(sessions, x, protocol)
    macs = model_macs(spec)
    backend_of = {
        "torch_fp32": "torch",
        "ort_fp32": "onnxruntime",
        "ort_int8": "onnxruntime",
        "ov_fp32": "openvino",
        "ov_int8": "openvino",
    }
    rows = {}
    for key, st in stats.items():
        peak = get_peak(backend_of[key], threads=threads)
        # int8 rows are measured against the int8 peak of the same runtime; torch has no int8 peak here
        rows[key] = {
            "p50_ms": st.p50,
            "median_ci95_ms": list(st.median_ci()),
            "p90_ms": st.percentile(90),
            "iterations": len(st.times_ms),
            "speedup_vs_torch": stats["torch_fp32"].p50 / st.p50,
            "speedup_vs_ort_fp32": stats["ort_fp32"].p50 / st.p50,
            "roofline": roofline_entry(macs, st.p50, 1, "int8" if key.endswith("int8") else "fp32", peak),
            "file_bytes": None if key == "torch_fp32" else file_bytes(int8 if key.endswith("int8") else fp32),
            "fidelity_vs_torch": fidelity[key],
            "session": sessions[key].describe(),
        }
    return {
        "model": name,
        "macs": macs,
        "input": list(spec.input.shape),
        "quantizer": quantizer,
        "prepare_s": round(prep_s, 1),
        "variants": rows,
    }


def repeatability(workdir: Path, *, threads: int, protocol: Any, repeats: int = 5) -> dict[str, Any]:
    """Profile the same ORT fp32 artifact `repeats` times (separate `edgecnn.profile` calls); spread of medians."""
    import edgecnn

    path = workdir / "mobilenet_v2_fp32.onnx"
    medians = []
    for _ in range(repeats):
        r = edgecnn.profile(path, target="onnxruntime", threads=threads, protocol=protocol, roofline=False)
        medians.append(r.optimized.p50)
    lo, hi = min(medians), max(medians)
    return {
        "artifact": "mobilenet_v2 fp32 ONNX on onnxruntime",
        "medians_ms": medians,
        "spread_pct": 100 * (hi - lo) / lo,
        "max_deviation_from_median_pct": 100
        * max(abs(m - float(np.median(medians))) for m in medians)
        / float(np.median(medians)),
    }


def to_markdown(result: dict[str, Any]) -> str:
    env = result["environment"]
    peaks = result["peaks"]
    lines = [
        "# Profiling benchmark: PyTorch eager vs ONNX Runtime vs OpenVINO, fp32 and int8",
        "",
        f"Machine: {env['cpu']} ({env['arch']}), flags {', '.join(env['flags']) or '-'}, {env['cores']} cores, "
        f"{result['threads']} threads; batch 1, 224x224, random weights. Command: `{result['command']}`.",
        f"Load average at the end (1/5/15 min): {', '.join(f'{x:.1f}' for x in result['load_average'])} "
        f"on {env['cores']} cores.",
        f"Protocol: {result['protocol']}. Total {result['seconds']:.0f} s. The machine is shared: read ratios.",
        "",
        "Measured peaks (GMAC/s, "
        + peaks["workload"]
        + "): "
        + "; ".join(f"{b} fp32 {p.get('fp32')} / int8 {p.get('int8')}" for b, p in peaks["by_backend"].items()),
        "",
        "| "
        + " | ".join(
            [
                "model",
                "variant",
                "p50 ms",
                "95% CI of p50",
                "vs torch eager",
                "vs ORT fp32",
                "GMAC/s",
                "% fp32 peak",
                "% int8 peak",
                "max rel err vs torch",
            ]
        )
        + " |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in result["models"]:
        for key in VARIANTS:
            v = m["variants"][key]
            rl = v["roofline"]
            lines.append(
                f"| {m['model']} | {key} | {v['p50_ms']:.2f} | "
                f"{v['median_ci95_ms'][0]:.2f}-{v['median_ci95_ms'][1]:.2f} | "
                f"{v['speedup_vs_torch']:.2f}x | {v['speedup_vs_ort_fp32']:.2f}x | {rl['achieved_gmacs'] or '-'} | "
                f"{rl['pct_of_fp32_peak'] if rl['pct_of_fp32_peak'] is not None else '-'} | "
                f"{rl['pct_of_int8_peak'] if rl['pct_of_int8_peak'] is not None else '-'} | "
                f"{v['fidelity_vs_torch']['max_rel_error']:.2g} |"
            )
    slow_torch = [
        m["model"]
        for m in result["models"]
        if m["variants"]["torch_fp32"]["p50_ms"] > 5 * m["variants"]["ort_fp32"]["p50_ms"]
    ]
    if slow_torch:
        lines += [
            "",
            f"PyTorch eager was more than 5x slower than ONNX Runtime fp32 on {', '.join(slow_torch)}: "
            "PyTorch's OpenMP "
            "threads wait on each other at every operator, which degrades badly when other processes oversubscribe "
            "the cores (load average was above the core count); that ratio overstates the gap on a quiet machine.",
        ]
    rep = result["repeatability"]
    lines += [
        "",
        f"Repeatability ({rep['artifact']}, {len(rep['medians_ms'])} separate profiles): medians "
        + ", ".join(f"{m:.3f}" for m in rep["medians_ms"])
        + f" ms; spread (max-min)/min {rep['spread_pct']:.1f}%, "
        f"largest deviation from their median {rep['max_deviation_from_median_pct']:.1f}%.",
        "",
    ]
    lines += [
        "% of peak: achieved MAC/s (model MACs / p50) over the peak of the same runtime measured on this machine "
        "(the best seen, re-measured at the start of this run); int8 rows are compared with both peaks. "
        "OpenVINO int8 runs the ONNX Runtime QDQ model with an f32 inference-precision hint.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--min-iters", type=int, default=9)
    parser.add_argument("--min-seconds", type=float, default=0.6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--calib-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="default: profile.json in the output folder")
    add_write_results(parser)
    args = parser.parse_args()
    args.out = args.out or output_dir(args) / "profile.json"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from rich.progress import Progress

    from edgecnn.fileio import atomic_write_text
    from edgecnn.profiling.environment import fingerprint
    from edgecnn.profiling.roofline import PEAK_CHANNELS, PEAK_LAYERS, PEAK_SIZE, get_peak
    from edgecnn.profiling.timing import TimingProtocol

    protocol = TimingProtocol(
        warmup=3, min_iters=args.min_iters, min_seconds=args.min_seconds, rounds=args.rounds, pause_s=0.1
    )
    start = time.perf_counter()
    # peaks measured in this run, under the same load as the models (kept at the best value this machine has shown)
    peaks = {b: get_peak(b, threads=args.threads, refresh=True) for b in ("onnxruntime", "openvino", "torch")}
    models = []
    with tempfile.TemporaryDirectory(prefix="edgecnn-bench-") as tmp, Progress() as progress:
        task = progress.add_task("profiling", total=len(args.models) + 1)
        for name in args.models:
            progress.update(task, description=name)
            models.append(
                bench_model(name, Path(tmp), threads=args.threads, protocol=protocol, calib_size=args.calib_size)
            )
            progress.advance(task)
            log.info("%s: %s", name, {k: round(v["p50_ms"], 2) for k, v in models[-1]["variants"].items()})
        progress.update(task, description="repeatability")
        if "mobilenet_v2" not in args.models:
            raise SystemExit("repeatability profiles mobilenet_v2: keep it in --models")
        rep = repeatability(
            Path(tmp),
            threads=args.threads,
            protocol=TimingProtocol(warmup=5, min_iters=30, min_seconds=1.0),
            repeats=args.repeats,
        )
        progress.advance(task)
    result = {
        "schema_version": 1,
        "kind": "benchmark/profile_models",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/profile_models.py",
        "threads": args.threads,
        "protocol": protocol.to_dict(),
        "environment": fingerprint(threads=args.threads),
        "peaks": {
            "workload": f"{PEAK_LAYERS}x conv3x3 {PEAK_CHANNELS}->{PEAK_CHANNELS} at {PEAK_SIZE}x{PEAK_SIZE}",
            "by_backend": {b: {k: p.get(k) for k in ("fp32", "int8")} for b, p in peaks.items() if p},
        },
        "models": models,
        "repeatability": rep,
        "seconds": time.perf_counter() - start,
        "load_average": list(os.getloadavg()),
    }
    atomic_write_text(args.out, json.dumps(result, indent=2, default=str))
    atomic_write_text(args.out.with_suffix(".md"), to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()

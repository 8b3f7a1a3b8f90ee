"""Sweep benchmark: the same 4-model sweep run sequentially (one cell after another, no Ray) and on Ray on this
machine's cores, side by side: the wall time of each, and each cell's measured latencies (float and optimized
p50), to show that parallel build work does not move the latency figures beyond the noise band (each timing
held its host exclusively through the `timing:<node>` resource).

Run:  flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/sweep_parallel.py [--models a,b,c,d] [--smoke]
Writes benchmarks/out/sweep_parallel.{json,md} (benchmarks/results/ with --write-results).
`--smoke`: 1 model and the shortest timings, to check the script runs (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from accuracy import environment  # benchmarks/accuracy.py: CPU, SIMD flags, load
from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

import edgecnn

MODELS = ["lenet5", "smallcnn", "mobilenet_v2", "resnet18"]
RECIPE = {"int8": {"steps": [{"type": "fold_bn"}, {"type": "quantize", "precision": "int8"}]}}
PROFILE = {"threads": 1}  # one thread per timing: the sequential and the parallel runs time alike
SMOKE_PROFILE = {"threads": 1, "warmup": 2, "rounds": 2, "min_iters": 10, "min_seconds": 0.1}


def run(models: list[str], profile: dict[str, Any], work: Path, *, sequential: bool) -> tuple[float, dict]:
    sweep_file = work / "bench-sweep.yaml"
    recipes = {name: {**r, "data": {"calib_size": 64}} for name, r in RECIPE.items()}
    data = {"name": "parallel-bench", "models": models, "recipes": recipes, "targets": ["onnxruntime"]}
    sweep_file.write_text(yaml.safe_dump({**data, "profile": profile}))
    out = work / ("sequential" if sequential else "ray")
    start = time.perf_counter()
    result = edgecnn.sweep(sweep_file, out_dir=out, sequential=sequential)
    return time.perf_counter() - start, {r["id"]: r for r in result.rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated zoo names (4 by default)")
    parser.add_argument("--smoke", action="store_true", help="1 model, shortest timings: checks the script runs")
    add_write_results(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    models = args.models.split(",")[:1] if args.smoke else args.models.split(",")
    profile = SMOKE_PROFILE if args.smoke else PROFILE
    work = Path(tempfile.mkdtemp(prefix="edgecnn-sweep-bench-"))
    try:
        seq_s, seq = run(models, profile, work, sequential=True)
        ray_s, par = run(models, profile, work, sequential=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    for cell, a in seq.items():
        b = par[cell]
        rows.append(
            {
                "cell": cell,
                "sequential": {k: a.get(k) for k in ("baseline_p50_ms", "optimized_p50_ms", "speedup", "status")},
                "ray": {k: b.get(k) for k in ("baseline_p50_ms", "optimized_p50_ms", "speedup", "status")},
            }
        )
    env = environment()
    results = {"environment": env, "models": models, "profile": profile, "wall_s": {"sequential": seq_s, "ray": ray_s},
               "cells": rows}  # fmt: skip
    out = output_dir(args)
    (out / "sweep_parallel.json").write_text(json.dumps(results, indent=2))
    lines = [
        f"# Sweep: sequential vs Ray on this machine ({len(models)} models, int8 on onnxruntime)",
        "",
        f"`{env['command']}` on {env['cpu']} ({env['cpus']} CPUs, load average {env['load_average']}); "
        f"SIMD flags: {' '.join(env['simd_flags'])}.",
        "",
        f"wall time: sequential {seq_s:.1f} s, Ray {ray_s:.1f} s ({seq_s / ray_s:.2f}x)",
        "",
        "| cell | float p50 seq (ms) | Ray | int8 p50 seq (ms) | Ray | speed-up seq | Ray |",
        "|---|---|---|---|---|---|---|",
    ]

    def f(v: Any) -> str:
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    for r in rows:
        s, p = r["sequential"], r["ray"]
        lines.append(
            f"| {r['cell']} | {f(s['baseline_p50_ms'])} | {f(p['baseline_p50_ms'])} | {f(s['optimized_p50_ms'])} | "
            f"{f(p['optimized_p50_ms'])} | {f(s['speedup'])} | {f(p['speedup'])} |"
        )
    (out / "sweep_parallel.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

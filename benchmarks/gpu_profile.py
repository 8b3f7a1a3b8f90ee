"""GPU profiling in one short run: MobileNetV2 and ResNet50, fp32 vs fp16 / bf16 (and int8 where the runtime allows).

Prepared for a machine with an NVIDIA GPU (none here): every comparison goes through `edgecnn.profile`
with target "cuda", so the fp32 baseline and the reduced-precision model are timed interleaved with
CUDA events, host-to-device copies reported apart, and GPU memory recorded.

    .venv/bin/python benchmarks/gpu_profile.py            # -> benchmarks/results/gpu_profile.{json,md}
    .venv/bin/python benchmarks/gpu_profile.py --dry-run  # the plan, no GPU needed

Variants per model and batch: PyTorch eager fp32 (baseline) vs fp16 and bf16, channels_last; ONNX Runtime's
CUDA execution provider fp32 when onnxruntime-gpu is installed; int8 only through TensorRT, which is
recorded as skipped (with the reason) when it is not installed. Exits 2 with a clear message when no GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

DEFAULT_MODELS = ("mobilenet_v2", "resnet50")


@dataclass(frozen=True)
class Variant:
    model: str
    batch: int
    name: str  # "torch_fp16", "torch_bf16", "ort_cuda_fp32", "tensorrt_int8"
    precision: str
    runtime: str  # "torch" or "onnxruntime"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes")
    p.add_argument("--device", default="cuda", help="cuda or cuda:N")
    p.add_argument("--min-iters", type=int, default=100)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--out", type=Path, default=None, help="default: gpu_profile.json in the output folder")
    p.add_argument("--dry-run", action="store_true", help="print the plan and exit (no GPU needed)")
    add_write_results(p)
    args = p.parse_args(argv)
    args.out = args.out or output_dir(args) / "gpu_profile.json"
    if any(b < 1 for b in args.batch) or args.min_iters < 1 or args.rounds < 1:
        p.error("--batch, --min-iters and --rounds must be at least 1")
    if not args.device.startswith("cuda"):
        p.error("--device must be cuda or cuda:N")
    return args


def plan(
    models: list[str], batches: list[int], *, ort_cuda: bool, tensorrt: bool
) -> tuple[list[Variant], list[dict[str, str]]]:
    """The variants to run (each against the PyTorch fp32 baseline at the same batch) and those skipped, with why."""
    variants: list[Variant] = []
    skipped: list[dict[str, str]] = []
    for m in models:
        for b in batches:
            variants += [Variant(m, b, "torch_fp16", "fp16", "torch"), Variant(m, b, "torch_bf16", "bf16", "torch")]
            if ort_cuda:
                variants.append(Variant(m, b, "ort_cuda_fp32", "fp32", "onnxruntime"))
            else:
                skipped.append(
                    {
                        "model": m,
                        "batch": str(b),
                        "variant": "ort_cuda_fp32",
                        "reason": "onnxruntime has no CUDAExecutionProvider here (install onnxruntime-gpu)",
                    }
                )
            skipped.append(
                {
                    "model": m,
                    "batch": str(b),
                    "variant": "int8",
                    "reason": "int8 on the GPU needs TensorRT (explicit QDQ); "
                    + (
                        "TensorRT int8 engines are built by `edgecnn export --target tensorrt`, not by this script"
                        if tensorrt
                        else "TensorRT is not installed on this machine"
                    ),
                }
            )
    return variants, skipped


def _available() -> dict[str, bool]:
    import importlib.util

    out = {"cuda": False, "ort_cuda": False, "tensorrt": importlib.util.find_spec("tensorrt") is not None}
    try:
        import torch

        out["cuda"] = torch.cuda.is_available()
    except ImportError:
        pass
    try:
        import onnxruntime as ort

        out["ort_cuda"] = "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        pass
    return out


def run_variant(v: Variant, spec: Any, onnx_path: Path | None, args: argparse.Namespace) -> dict[str, Any]:
    import edgecnn
    from edgecnn.profiling.timing import TimingProtocol

    protocol = TimingProtocol(
        warmup=20, min_iters=args.min_iters, min_seconds=args.min_seconds, rounds=args.rounds, pause_s=0.0
    )
    batch_spec = spec.replace(input=spec.input.with_batch(v.batch))
    if v.runtime == "torch":
        r = edgecnn.profile(
            batch_spec,
            target="cuda",
            baseline=batch_spec,
            device=args.device,
            precision=v.precision,
            protocol=protocol,
            batch=v.batch,
            channels_last=args.channels_last,
            roofline=False,
        )
    else:  # a different runtime than the PyTorch baseline: timed alone (wall clock, copies included)
        r = edgecnn.profile(
            onnx_path, target="cuda", device=args.device, protocol=protocol, batch=v.batch, roofline=False
        )
    d = r.to_dict(include_times=False)
    return {
        **asdict(v),
        "baseline_p50_ms": r.baseline.p50 if r.baseline else None,
        "p50_ms": r.optimized.p50,
        "speedup": r.speedup,
        "h2d_ms": d["optimized"].get("h2d_ms"),
        "clock": r.optimized.clock,
        "fidelity": r.fidelity,
        "memory": d["optimized"]["memory"],
        "baseline_memory": (d["baseline"] or {}).get("memory"),
        "notes": r.notes,
    }


def fill_cross_runtime_speedups(runs: list[dict[str, Any]]) -> None:
    """Runs without an interleaved baseline get a speed-up against the PyTorch fp32 median of the same model
    and batch."""
    torch_fp32 = {
        (r["model"], r["batch"]): r["baseline_p50_ms"] for r in runs if r["runtime"] == "torch" and r["baseline_p50_ms"]
    }
    for r in runs:
        ref = torch_fp32.get((r["model"], r["batch"]))
        if r["speedup"] is None and ref:
            r["baseline_p50_ms"], r["speedup"] = ref, ref / r["p50_ms"]
            r["notes"] = [*r["notes"], "speed-up against PyTorch fp32 timed in another run (not interleaved)"]


def to_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# GPU profile: fp32 vs reduced precision",
        "",
        f"GPU: {result['gpu']}; command `{result['command']}`; CUDA-event timing, copies apart.",
        "",
        "| model | batch | variant | fp32 p50 ms | p50 ms | speed-up | H2D p50 ms | GPU peak MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in result["runs"]:
        h2d = (r.get("h2d_ms") or {}).get("p50")
        mem = (r.get("memory") or {}).get("gpu_peak_allocated_bytes")
        base = "-" if r["baseline_p50_ms"] is None else f"{r['baseline_p50_ms']:.3f}"
        speedup = "-" if r["speedup"] is None else f"{r['speedup']:.2f}x"
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['name']} | {base} | {r['p50_ms']:.3f} | {speedup} | "
            f"{'-' if h2d is None else f'{h2d:.3f}'} | {'-' if mem is None else f'{mem / 1e6:.0f}'} |"
        )
    for s in result["skipped"]:
        lines.append(f"\nSkipped {s['variant']} ({s['model']}, batch {s['batch']}): {s['reason']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    have = _available()
    variants, skipped = plan(args.models, args.batch, ort_cuda=have["ort_cuda"], tensorrt=have["tensorrt"])
    if args.dry_run:
        print(json.dumps({"available": have, "variants": [asdict(v) for v in variants], "skipped": skipped}, indent=2))
        return 0
    if not have["cuda"]:
        print(
            "error: no CUDA GPU is visible to PyTorch here; run this script on the GPU machine (or use --dry-run)",
            file=sys.stderr,
        )
        return 2
    import torch

    from edgecnn.exporters.onnx import export_onnx
    from edgecnn.fileio import atomic_write_text
    from edgecnn.profiling.environment import fingerprint
    from edgecnn.zoo import load_model

    runs = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgecnn-gpu-") as tmp:
        for model in args.models:
            torch.manual_seed(0)
            spec = load_model(model, weights="random")
            onnx_path = None
            if have["ort_cuda"]:
                onnx_path = export_onnx(spec, Path(tmp) / f"{model}.onnx", dynamic_batch=True, check=False).path
            for v in (v for v in variants if v.model == model):
                runs.append(run_variant(v, spec, onnx_path, args))
                print(f"{v.model} b{v.batch} {v.name}: p50 {runs[-1]['p50_ms']:.3f} ms", flush=True)
    fill_cross_runtime_speedups(runs)
    result = {
        "schema_version": 1,
        "kind": "benchmark/gpu_profile",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python benchmarks/gpu_profile.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "gpu": torch.cuda.get_device_name(args.device),
        "environment": fingerprint(),
        "runs": runs,
        "skipped": skipped,
        "seconds": time.perf_counter() - start,
    }
    atomic_write_text(args.out, json.dumps(result, indent=2, default=str))
    atomic_write_text(args.out.with_suffix(".md"), to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

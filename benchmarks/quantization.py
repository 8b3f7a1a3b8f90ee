"""Acceptance benchmark for quantization: accuracy on real data, int8 vs fp32 latency, time to quantize.

Parts (each well under 5 minutes on an idle 2-core machine; run them one at a time under the lock):

    flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/quantization.py --part digits
    flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/quantization.py --part timing
    flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/quantization.py --part latency --models mobilenet_v2
    flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/quantization.py --part latency --models resnet18
    flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/quantization.py --part passes

Results merge into benchmarks/results/quantization.{json,md} (one section per part / model).

- digits: smallcnn trained on scikit-learn's digits (real data), int8 on ONNX Runtime with U8S8 and
  with the TensorRT-style S8S8 symmetric profile; test accuracy drop in points (target <= 0.5).
- timing: calibrate (300 default photos) + quantize MobileNetV2, wall time (target < 60 s).
- latency: for each zoo model at 224x224 (random weights: latency does not depend on them),
  `edgecnn.quantize(target="onnxruntime")` with its latency fallback, then fp32 vs the returned int8
  timed interleaved (A B A B rounds) in one process; ratio = int8 p50 / fp32 p50.
- passes: the measured effect of cross-layer equalization and bias correction on MobileNetV2.
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

from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

RESULTS = Path(__file__).resolve().parent / "out"  # main() sets it: out/, or results/ with --write-results
MODELS = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "resnet18", "resnet50")
RATIO_TARGET = {"mobilenet_v2": 0.5, "resnet18": 0.5}
log = logging.getLogger("benchmarks.quantization")


def part_digits(workdir: Path) -> dict[str, Any]:
    import edgecnn
    from edgecnn.evaluation.digits import trained_digits_model

    spec, train, test = trained_digits_model("smallcnn", epochs=6)
    rows = {}
    for profile in ("u8s8", "s8s8"):
        t0 = time.perf_counter()
        result = edgecnn.quantize(
            spec,
            preset=profile,
            calib_data=train.x[:300],
            eval_data=(test.x, test.y),
            out=workdir / f"smallcnn.{profile}.onnx",
            advanced=edgecnn.AdvancedQuantization(check_latency=False),
        )
        acc = result.report["accuracy"]
        rows[profile] = {
            **acc,
            "passed": acc["drop_points"] <= 0.5,
            "reduce_range": result.report["reduce_range"],
            "sqnr_db": result.report["fidelity"]["sqnr_db"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        # the same model without reduce_range: what ORT's non-VNNI int16 saturation costs here
        full = edgecnn.quantize(
            spec,
            preset=profile,
            calib_data=train.x[:300],
            eval_data=(test.x, test.y),
            out=workdir / f"smallcnn.{profile}.full.onnx",
            advanced=edgecnn.AdvancedQuantization(reduce_range=False, check_latency=False),
        )
        rows[profile]["without_reduce_range"] = full.report["accuracy"]
    return {
        "model": "smallcnn trained on sklearn digits (1,347 train / 450 test, 32x32)",
        "test_samples": int(len(test.y)),
        **rows,
    }


def part_timing(workdir: Path) -> dict[str, Any]:
    import edgecnn
    from edgecnn.zoo import load_model

    spec = load_model("mobilenet_v2", weights="random")
    t0 = time.perf_counter()
    result = edgecnn.quantize(
        spec, out=workdir / "mbv2.int8.onnx", advanced=edgecnn.AdvancedQuantization(calib_size=300, check_latency=False)
    )
    total = time.perf_counter() - t0
    cal = result.report["calibration"]
    # the machine is shared: record how loaded it was and how fast plain fp32 inference ran meanwhile
    from edgecnn.profiling.timing import TimingProtocol, measure
    from edgecnn.runtime import load_session

    fp32 = edgecnn.export_onnx(spec, workdir / "mbv2.fp32.onnx", check=False)
    fp32_ms = measure(
        load_session(fp32, threads=2),
        edgecnn.load_calibration(None, spec, size=1),
        TimingProtocol(warmup=5, min_iters=30, min_seconds=2.0),
    ).p50
    return {
        "model": "mobilenet_v2 224x224",
        "calibration_images": cal["samples"],
        "total_seconds": round(total, 1),
        "load_images_seconds": cal["load_seconds"],
        "calibrate_and_quantize_seconds": cal["calibrate_quantize_seconds"],
        "target_seconds": 60,
        "passed": total < 60,
        "load_average_1min": os.getloadavg()[0],
        "fp32_ort_p50_ms_during_run": fp32_ms,
        "fp32_ort_p50_ms_idle_reference": 4.19,
    }


def part_latency(workdir: Path, models: list[str], *, threads: int, calib_size: int) -> dict[str, Any]:
    import edgecnn
    from edgecnn.profiling.timing import TimingProtocol, compare_interleaved
    from edgecnn.runtime import load_session
    from edgecnn.zoo import load_model

    protocol = TimingProtocol(warmup=10, min_iters=40, min_seconds=4.0, rounds=6, pause_s=0.1)
    out = {}
    for name in models:
        spec = load_model(name, weights="random")
        fp32 = edgecnn.export_onnx(spec, workdir / f"{name}.fp32.onnx", check=False)
        t0 = time.perf_counter()
        result = edgecnn.quantize(
            fp32,
            out=workdir / f"{name}.int8.onnx",
            advanced=edgecnn.AdvancedQuantization(calib_size=calib_size, threads=threads),
        )
        seconds = time.perf_counter() - t0
        sample = edgecnn.load_calibration(None, spec, size=1, seed=1)
        sessions = {"fp32": load_session(fp32, threads=threads), "int8": load_session(result.artifact, threads=threads)}
        stats = compare_interleaved(sessions, sample, protocol)
        ratio = stats["int8"].p50 / stats["fp32"].p50
        lat = result.report["latency"]
        out[name] = {
            "fp32_p50_ms": stats["fp32"].p50,
            "int8_p50_ms": stats["int8"].p50,
            "ratio": ratio,
            "target_ratio": RATIO_TARGET.get(name, 1.0),
            "passed": ratio <= RATIO_TARGET[name] if name in RATIO_TARGET else ratio < 1.0,
            "chosen_variant": lat.get("chosen"),
            "profile": result.report["config"]["profile"]["label"],
            "op_types": result.report["config"]["op_types"],
            "reduce_range": result.report["reduce_range"]["value"],
            "quantize_check_candidates": {
                k: {kk: v.get(kk) for kk in ("ratio", "profile", "op_types")} for k, v in lat["candidates"].items()
            },
            "graph": result.report["graph"],
            "fidelity_sqnr_db": result.report["fidelity"]["sqnr_db"],
            "warnings": result.report["warnings"],
            "quantize_seconds": round(seconds, 1),
        }
        log.info(
            "%s: fp32 %.2f ms, int8 %.2f ms, ratio %.2f (%s)",
            name,
            stats["fp32"].p50,
            stats["int8"].p50,
            ratio,
            lat.get("chosen"),
        )
    return out


def part_passes(workdir: Path, *, calib_size: int) -> dict[str, Any]:
    import edgecnn
    from edgecnn.zoo import load_model

    spec = load_model("mobilenet_v2", weights="random")
    result = edgecnn.quantize(
        spec,
        out=workdir / "mbv2.passes.onnx",
        advanced=edgecnn.AdvancedQuantization(
            calib_size=calib_size, equalize=True, relu6_as_relu=True, bias_correction=True, check_latency=False
        ),
    )
    return {
        "model": "mobilenet_v2 (random weights: fidelity to fp32 on calibration photos, not accuracy)",
        "steps": [
            {"type": s["type"], "effect": s.get("effect"), "report": s["report"]} for s in result.report["steps"]
        ],
        "final_sqnr_db": result.report["fidelity"]["sqnr_db"],
        "warnings": result.report["warnings"],
    }


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quantization.json").write_text(json.dumps(results, indent=2, default=str))
    (RESULTS / "quantization.md").write_text(render(results))


def render(r: dict[str, Any]) -> str:
    lines = [
        "# Quantization benchmark",
        "",
        f"Environment: {r.get('environment', {}).get('cpu')} "
        f"flags {r.get('environment', {}).get('flags')}, {r.get('threads')} threads. "
        "Ratios come from interleaved runs.",
        "",
    ]
    if "digits" in r:
        d = r["digits"]
        lines += [
            "## Accuracy on digits (int8 on ONNX Runtime)",
            "",
            "| profile | fp32 top-1 | int8 top-1 | drop (points) | <= 0.5 | without reduce_range |",
            "|---|---|---|---|---|---|",
        ]
        for p in ("u8s8", "s8s8"):
            row = d[p]
            lines.append(
                f"| {p} | {row['fp32_top1']:.2f} | {row['top1']:.2f} | {row['drop_points']:.2f} | "
                f"{'yes' if row['passed'] else 'NO'} | "
                f"{row['without_reduce_range']['top1']:.2f} |"
            )
        lines.append("")
    if "timing" in r:
        t = r["timing"]
        lines += [
            "## Time to calibrate + quantize MobileNetV2 (300 images)",
            "",
            f"{t['total_seconds']} s total (images {t['load_images_seconds']} s, "
            f"calibrate+quantize {t['calibrate_and_quantize_seconds']} s); "
            f"target < 60 s: {'met' if t['passed'] else 'NOT met'}. "
            f"Machine load average {t.get('load_average_1min', 0):.1f} on 2 cores; "
            f"MobileNetV2 fp32 ran at {t.get('fp32_ort_p50_ms_during_run', float('nan')):.1f} ms/inference meanwhile "
            f"(idle reference {t.get('fp32_ort_p50_ms_idle_reference')} ms).",
            "",
        ]
    if r.get("latency"):
        lines += [
            "## int8 vs fp32 latency on ONNX Runtime, 224x224, batch 1",
            "",
            "| model | fp32 p50 ms | int8 p50 ms | ratio | target | met | variant |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in r["latency"].items():
            lines.append(
                f"| {name} | {row['fp32_p50_ms']:.2f} | {row['int8_p50_ms']:.2f} | {row['ratio']:.2f} | "
                f"< {row['target_ratio']} | "
                f"{'yes' if row['passed'] else 'NO'} | {row['chosen_variant']} ({row['profile']}) |"
            )
        lines.append("")
    if "passes" in r:
        lines += ["## Accuracy passes on MobileNetV2", ""]
        for step in r["passes"]["steps"]:
            eff = (step.get("effect") or {}).get("sqnr_db")
            if eff:
                lines.append(f"- {step['type']}: SQNR vs fp32 {eff['without']:.2f} -> {eff['with']:.2f} dB")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("digits", "timing", "latency", "passes"), required=True)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--calib-size", type=int, default=100, help="calibration images for the latency and passes parts"
    )
    add_write_results(parser)
    args = parser.parse_args()
    global RESULTS
    RESULTS = output_dir(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("root").setLevel(logging.WARNING)
    from edgecnn.profiling.environment import fingerprint

    path = RESULTS / "quantization.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["environment"] = fingerprint(threads=args.threads)
    results["threads"] = args.threads
    with tempfile.TemporaryDirectory(prefix="edgecnn-qbench-") as tmp:
        work = Path(tmp)
        if args.part == "digits":
            results["digits"] = part_digits(work)
        elif args.part == "timing":
            results["timing"] = part_timing(work)
        elif args.part == "latency":
            results.setdefault("latency", {}).update(
                part_latency(work, args.models, threads=args.threads, calib_size=args.calib_size)
            )
        else:
            results["passes"] = part_passes(work, calib_size=args.calib_size)
    write(results)
    print(render(results))


if __name__ == "__main__":
    main()

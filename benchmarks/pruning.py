"""Pruning acceptance benchmark: channel pruning that really runs faster, accuracy recovery, sparsity sizes.

Sections (run all, or some with --sections; each run merges its sections into the stored results):
  channel   30% L1 channel pruning of mobilenet_v2 (round_to=8) and resnet18 (round_to=16) at 224x224:
            params/MAC ratios, and original vs pruned vs pruned-without-rounding ONNX models timed side by
            side (interleaved rounds) in ONNX Runtime, 2 threads.
  others    efficientnet_b0 and mobilenet_v3_large: prune 30%, export, run in ONNX Runtime, compare with PyTorch.
  digits    smallcnn trained on scikit-learn digits: 30% pruning with and without distillation (one step and
            an iterative 2-step schedule), then fold_bn -> int8 (edgecnn.quantize) -> ONNX Runtime accuracy.
  sparsity  unstructured (per layer and global) and 2:4 sparsity of the digits model (2:4 also with masked
            distillation): accuracy and sizes.

Run:  flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/pruning.py [--sections channel,others]
Writes benchmarks/results/pruning.json and pruning.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

ROOT = Path(__file__).resolve().parent
RESULTS = Path(__file__).resolve().parent / "out"  # main() sets it: out/, or results/ with --write-results
THREADS = 2
RATIO = 0.3
SECTIONS = ("channel", "others", "digits", "sparsity")
log = logging.getLogger("benchmarks.pruning")


def _protocol():
    from edgecnn.profiling.timing import TimingProtocol

    return TimingProtocol(warmup=10, min_iters=60, min_seconds=4.0, rounds=6, pause_s=0.05)


def channel(name: str, round_to: int) -> dict[str, Any]:
    """Prune at 224x224, then time original / pruned / pruned without channel rounding side by side."""
    from edgecnn import load_model, prune
    from edgecnn.exporters.onnx import export_onnx
    from edgecnn.profiling.timing import compare_interleaved
    from edgecnn.runtime import load_session

    spec = load_model(name, weights="random")
    variants = {"original": spec}
    pruned, step = prune(spec, ratio=RATIO, round_to=round_to, check_latency=False, return_report=True)
    variants["pruned"] = pruned
    variants["pruned_unrounded"], step_raw = prune(
        spec, ratio=RATIO, round_to=None, check_latency=False, return_report=True
    )
    report = step["report"]
    with tempfile.TemporaryDirectory() as tmp:
        arts = {k: export_onnx(v, Path(tmp) / f"{k}.onnx") for k, v in variants.items()}
        sessions = {k: load_session(a, threads=THREADS) for k, a in arts.items()}
        stats = compare_interleaved(sessions, spec.example_input(1).numpy(), _protocol())
    p50 = {k: s.p50 for k, s in stats.items()}
    return {
        "model": name,
        "input": list(spec.input.shape),
        "ratio": RATIO,
        "round_to": round_to,
        "importance": "l1",
        "params": report["params"],
        "macs": report["macs"],
        "params_reduction": 1 - report["params"]["ratio"],
        "macs_reduction": 1 - report["macs"]["ratio"],
        "unrounded_macs_ratio": step_raw["report"]["macs"]["ratio"],
        "export_max_rel_error": {k: a.provenance["check"]["max_rel_error"] for k, a in arts.items()},
        "latency_ms": {k: s.summary() for k, s in stats.items()},
        "speedup": p50["original"] / p50["pruned"],
        "speedup_unrounded": p50["original"] / p50["pruned_unrounded"],
        "iterations": {k: len(s.times_ms) for k, s in stats.items()},
        "prune_seconds": step["seconds"],
    }


def others(name: str) -> dict[str, Any]:
    from edgecnn import load_model, prune

    spec = load_model(name, weights="random")
    pruned, step = prune(spec, ratio=RATIO, round_to=8, threads=THREADS, return_report=True)
    report = step["report"]
    latency = report["latency"]
    return {
        "model": name,
        "ratio": RATIO,
        "round_to": 8,
        "params": report["params"],
        "macs": report["macs"],
        "changed_layers": len(report["layers"]),
        "output_shape": list(pruned.module(pruned.example_input(1)).shape),
        "speedup": latency.get("speedup"),
        "latency_ms": {"original": latency["original_ms"]["p50"], "pruned": latency["pruned_ms"]["p50"]},
        "prune_seconds": step["seconds"],
    }


def _digits():
    from edgecnn.evaluation.digits import trained_digits_model

    return trained_digits_model("smallcnn", epochs=6)


def digits(trained) -> dict[str, Any]:
    """Accuracy after pruning (with and without distillation), then fold_bn -> int8 -> ONNX Runtime."""
    from edgecnn import AdvancedQuantization, fold_bn, prune, quantize
    from edgecnn.evaluation.digits import top1, torch_predict
    from edgecnn.runtime import load_session

    spec, train, test = trained
    base = top1(torch_predict(spec.module), test)
    out: dict[str, Any] = {
        "model": "smallcnn (digits, 6 epochs)",
        "test_samples": len(test.y),
        "top1_original": base,
        "runs": {},
    }
    common = dict(ratio=RATIO, check_latency=False, calib_data=train.x[:64], return_report=True)
    runs = {
        "prune_only": dict(),
        "prune_distill_2ep": dict(distill_between=2, train_data=(train.x, train.y)),
        "iterative_2x_distill_1ep": dict(iterative_steps=2, distill_between=1, train_data=(train.x, train.y)),
    }
    models = {}
    for label, kw in runs.items():
        started = time.perf_counter()
        pruned, step = prune(spec, **common, **kw)
        acc = top1(torch_predict(pruned.module), test)
        models[label] = pruned
        out["runs"][label] = {
            "top1": acc,
            "delta": acc - base,
            "macs_ratio": step["report"]["macs"]["ratio"],
            "params_ratio": step["report"]["params"]["ratio"],
            "seconds": time.perf_counter() - started,
        }
    folded, fold_step = fold_bn(models["prune_distill_2ep"], return_report=True)
    with tempfile.TemporaryDirectory() as tmp:
        result = quantize(
            folded,
            target="onnxruntime",
            calib_data=train.x[:128],
            out=Path(tmp) / "int8.onnx",
            advanced=AdvancedQuantization(check_latency=False),
        )
        session = load_session(result.artifact, threads=THREADS)
        int8 = top1(lambda x: np.concatenate([session.run(x[i : i + 1])[0] for i in range(len(x))]), test)
    out["pipeline"] = {
        "after": "prune_distill_2ep",
        "fold_bn_folded": fold_step["report"]["folded"],
        "fold_bn_max_rel_error": fold_step["report"]["check"]["max_rel_error"],
        "int8_precision": result.artifact.precision,
        "top1_int8_ort": int8,
        "delta_vs_original": int8 - base,
    }
    return out


def sparsity(trained) -> dict[str, Any]:
    from edgecnn import sparsify
    from edgecnn.evaluation.digits import top1, torch_predict

    spec, train, test = trained
    base = top1(torch_predict(spec.module), test)
    res: dict[str, Any] = {"top1_original": base, "runs": {}}
    for label, kw in {
        "unstructured_50_per_layer": dict(sparsity=0.5),
        "unstructured_50_global": dict(sparsity=0.5, global_=True),
        "2:4": dict(pattern="2:4"),
        "2:4 + masked distill 1 epoch": dict(pattern="2:4", distill_epochs=1, train_data=(train.x, train.y)),
    }.items():
        out, step = sparsify(spec, **kw, return_report=True)
        r = step["report"]
        res["runs"][label] = {
            "top1": top1(torch_predict(out.module), test),
            "sparsity": r["sparsity"]["weights"],
            "skipped": [s["layer"] for s in r["skipped"]],
            "size": r["size"],
        }
        res["speed"] = r["speed"]
    return res


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Pruning benchmark",
        "",
        f"Environment: {results.get('environment', {}).get('cpu', '?')}, {THREADS} threads, "
        "ONNX Runtime, batch 1; latencies are p50 of interleaved rounds "
        "(the machine is shared and noisy: read ratios).",
        "",
    ]
    if "channel" in results:
        lines += [
            "## 30% channel pruning at 224x224 (L1, stem and head protected)",
            "",
            "| model | round_to | params kept | MACs kept | original ms | pruned ms | speed-up | unrounded ms "
            "| speed-up unrounded |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results["channel"]:
            lat = r["latency_ms"]
            lines.append(
                f"| {r['model']} | {r['round_to']} | {r['params']['ratio']:.3f} | {r['macs']['ratio']:.3f} | "
                f"{lat['original']['p50']:.2f} | {lat['pruned']['p50']:.2f} | x{r['speedup']:.2f} | "
                f"{lat['pruned_unrounded']['p50']:.2f} | x{r['speedup_unrounded']:.2f} |"
            )
        lines.append("")
    if "others" in results:
        lines += [
            "## Other zoo models: prune 30% (round_to=8), export, run",
            "",
            "| model | params kept | MACs kept | output | original ms | pruned ms | speed-up |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in results["others"]:
            lines.append(
                f"| {r['model']} | {r['params']['ratio']:.3f} | {r['macs']['ratio']:.3f} | {r['output_shape']} | "
                f"{r['latency_ms']['original']:.2f} | {r['latency_ms']['pruned']:.2f} | x{r['speedup']:.2f} |"
            )
        lines.append("")
    if "digits" in results:
        d = results["digits"]
        lines += [
            f"## Accuracy on real data: {d['model']}, {d['test_samples']} test digits, "
            f"original top-1 {d['top1_original']:.2f}%",
            "",
            "| run | top-1 % | delta (points) | MACs kept | seconds |",
            "|---|---|---|---|---|",
        ]
        for label, r in d["runs"].items():
            lines.append(
                f"| {label} | {r['top1']:.2f} | {r['delta']:+.2f} | {r['macs_ratio']:.3f} | {r['seconds']:.1f} |"
            )
        p = d["pipeline"]
        lines += [
            "",
            f"Then fold_bn ({p['fold_bn_folded']} BN folded, max rel error {p['fold_bn_max_rel_error']:.1e}) -> "
            f"edgecnn.quantize ({p['int8_precision']}) -> ONNX Runtime: top-1 {p['top1_int8_ort']:.2f}% "
            f"({p['delta_vs_original']:+.2f} points vs the original float model).",
            "",
        ]
    if "sparsity" in results:
        s = results["sparsity"]
        lines += [
            f"## Sparsity on the digits model (original top-1 {s['top1_original']:.2f}%; fine-tuned only where named)",
            "",
            "| run | weight sparsity | top-1 % | zip size ratio | sparse-format size ratio |",
            "|---|---|---|---|---|",
        ]
        for label, r in s["runs"].items():
            lines.append(
                f"| {label} | {r['sparsity']:.3f} | {r['top1']:.2f} | {r['size']['zip_ratio']:.3f} | "
                f"{r['size']['sparse_format_ratio']:.3f} |"
            )
        lines += ["", s["speed"], ""]
    return "\n".join(lines) + "\n"


def main() -> None:
    from edgecnn.fileio import atomic_write_text
    from edgecnn.profiling.environment import fingerprint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}"
    )
    add_write_results(parser)
    args = parser.parse_args()
    global RESULTS
    RESULTS = output_dir(args)
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    path = RESULTS / "pruning.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    started = time.perf_counter()
    if "channel" in wanted:
        results["channel"] = [channel("mobilenet_v2", 8), channel("resnet18", 16)]
    if "others" in wanted:
        results["others"] = [others("efficientnet_b0"), others("mobilenet_v3_large")]
    if "digits" in wanted or "sparsity" in wanted:
        trained = _digits()
        if "digits" in wanted:
            results["digits"] = digits(trained)
        if "sparsity" in wanted:
            results["sparsity"] = sparsity(trained)
    results["environment"] = fingerprint()
    results["threads"] = THREADS
    results.setdefault("seconds", {}).update({",".join(wanted): round(time.perf_counter() - started, 1)})
    atomic_write_text(path, json.dumps(results, indent=2, default=str))
    atomic_write_text(RESULTS / "pruning.md", render(results))
    print(render(results))


if __name__ == "__main__":
    main()

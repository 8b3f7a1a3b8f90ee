"""Benchmark of the graph transforms: fold_bn, dw_separable (m = 1) and distill.

1. digits (real data): smallcnn trained on scikit-learn digits at 32x32; test accuracy of the original,
   after fold_bn, after dw_separable(m=1), after dw_separable + distill; conv MACs before/after.
2. zoo: every torchvision zoo model (random weights, BatchNorm statistics settled on random inputs so that
   folding is not trivial): fold_bn (check error, folded count, PyTorch latency before/after, interleaved),
   dw_separable(m=1) (MAC drop), and both exported to ONNX with ONNX Runtime outputs compared to PyTorch.

Run (one benchmark at a time on the shared machine):
    flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/transforms.py
Writes benchmarks/results/transforms.json and transforms.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results
from torch import nn

import edgecnn
from edgecnn.evaluation.digits import top1, torch_predict, trained_digits_model
from edgecnn.fileio import atomic_write_text
from edgecnn.profiling.environment import fingerprint

RESULTS = Path(__file__).resolve().parent / "out"  # main() sets it: out/, or results/ with --write-results


def digits_section(epochs: int, distill_epochs: int) -> dict[str, Any]:
    start = time.perf_counter()
    spec, train, test = trained_digits_model("smallcnn", epochs=epochs)
    acc = {"original": top1(torch_predict(spec.module), test)}
    folded, fold_step = edgecnn.fold_bn(spec, return_report=True)
    acc["fold_bn"] = top1(torch_predict(folded.module), test)
    # substitute before folding so distillation can re-estimate the BatchNorm statistics the substitution shifted
    student, dw_step = edgecnn.dw_separable(spec, depth_multiplier=1, return_report=True)
    acc["dw_separable_m1"] = top1(torch_predict(student.module), test)
    distilled = {}
    for mode, labels in (("unlabeled", None), ("labeled", train.y)):
        recovered, kd_step = edgecnn.distill(
            student, spec, train.x, labels=labels, epochs=distill_epochs, lr=3e-3, progress=False, return_report=True
        )
        acc[f"dw_separable_m1+distill({mode})+fold_bn"] = top1(
            torch_predict(edgecnn.fold_bn(recovered, measure_latency=False).module), test
        )
        distilled[mode] = kd_step["report"]
    dw = dw_step["report"]
    worst = min(acc[k] for k in acc if "distill" in k)
    return {
        "model": "smallcnn on digits 32x32",
        "train_epochs": epochs,
        "distill_epochs": distill_epochs,
        "distill_lr": 3e-3,
        "test_samples": len(test.x),
        "accuracy": acc,
        "fold_bn_drop": round(acc["original"] - acc["fold_bn"], 3),
        "dw_distill_drop_worst": round(acc["original"] - worst, 3),
        "conv_macs_before": dw["conv_macs_before"],
        "conv_macs_after": dw["conv_macs_after"],
        "conv_mac_ratio": dw["conv_mac_ratio"],
        "fold_bn": fold_step["report"],
        "dw_separable": _brief_dw(dw),
        "distill": distilled,
        "seconds": round(time.perf_counter() - start, 1),
    }


def settle_bn(module: nn.Module, shape: tuple[int, ...], seed: int = 0) -> None:
    """Random weights leave BN at mean 0 / var 1 (folding them is trivial): estimate real statistics on random
    inputs."""
    torch.manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.momentum = None
            if bn.affine:
                nn.init.uniform_(bn.weight, 0.5, 1.5)
                nn.init.normal_(bn.bias, 0, 0.2)
    module.train()
    with torch.no_grad():
        module(torch.randn(4, *shape[1:]))
    module.eval()


def zoo_section(name: str, size: int, workdir: Path) -> dict[str, Any]:
    start = time.perf_counter()
    spec = edgecnn.load_model(name, weights="random", input_shape=(1, 3, size, size))
    settle_bn(spec.module, spec.input.shape)
    folded, fold_step = edgecnn.fold_bn(spec, return_report=True)
    fold = fold_step["report"]
    dw_model, dw_step = edgecnn.dw_separable(folded, depth_multiplier=1, return_report=True)
    onnx_folded = edgecnn.export_onnx(folded, workdir / f"{name}_folded.onnx").provenance["check"]
    onnx_dw = edgecnn.export_onnx(dw_model, workdir / f"{name}_dw.onnx").provenance["check"]
    return {
        "model": name,
        "input": [1, 3, size, size],
        "fold_bn": {
            "folded": fold["folded"],
            "unfolded": fold["unfolded"],
            "max_rel_error": fold["check"]["max_rel_error"],
            "torch_latency": fold.get("latency"),
            "onnx_ort_rel_error": onnx_folded["max_rel_error"],
        },
        "dw_separable_m1": {**_brief_dw(dw_step["report"]), "onnx_ort_rel_error": onnx_dw["max_rel_error"]},
        "seconds": round(time.perf_counter() - start, 1),
    }


def _brief_dw(report: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "substituted",
        "substituted_macs_before",
        "substituted_macs_after",
        "substituted_mac_reduction",
        "conv_macs_before",
        "conv_macs_after",
        "conv_mac_ratio",
        "params_before",
        "params_after",
    )
    worst = max(report["layers"], key=lambda p: p["rel_error"])
    return {
        **{k: report[k] for k in keys},
        "max_layer_rel_error": worst["rel_error"],
        "output_rel_error": report["check"]["max_rel_error"],
    }


def markdown(result: dict[str, Any]) -> str:
    d = result["digits"]
    acc = d["accuracy"]
    lines = [
        "# Transforms benchmark",
        "",
        f"Commands: {'; '.join(f'`{c}`' for c in result['commands'])}. "
        f"{result['environment'].get('cpu', '?')} "
        f"({', '.join(result['environment'].get('flags', []))}), torch threads {result['torch_threads']}.",
        "Latency is PyTorch eager, batch 1, timed interleaved (before/after alternating); "
        "the machine is shared and noisy: read the ratio.",
        "",
        f"## {d['model']} (real data, {d['test_samples']} test images)",
        "",
        "| model | top-1 % |",
        "|---|---|",
        *[f"| {k} | {v:.2f} |" for k, v in acc.items()],
        "",
        f"fold_bn drop: {d['fold_bn_drop']:.2f} points (budget 0.1); dw_separable(m=1) + distill, worst drop: "
        f"{d['dw_distill_drop_worst']:.2f} points (budget 1.5); "
        f"conv MACs {d['conv_macs_before']:,} -> {d['conv_macs_after']:,} "
        f"(ratio {d['conv_mac_ratio']}, budget 0.5). "
        f"Distill: {d['distill_epochs']} epochs ({d['distill']['unlabeled']['steps']} steps), "
        f"Adam lr {d['distill_lr']}, KL at T=4 (labeled: + cross-entropy, alpha 0.5), "
        "BatchNorm re-estimated, then folded.",
        "",
        "## torchvision zoo (random weights, BN statistics settled on random inputs)",
        "",
        "| "
        + " | ".join(
            [
                "model",
                "BN folded",
                "left",
                "fold rel err",
                "torch p50 before/after ms",
                "speed-up",
                "ORT err (folded)",
                "dw layers",
                "dw MACs of substituted layers",
                "reduction",
                "conv MAC ratio",
                "ORT err (dw)",
            ]
        )
        + " |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for z in result["zoo"]:
        f, w = z["fold_bn"], z["dw_separable_m1"]
        lat = f["torch_latency"] or {}
        lines.append(
            f"| {z['model']} | {f['folded']} | {len(f['unfolded'])} | {f['max_rel_error']:.1e} | "
            f"{lat.get('p50_ms_before', float('nan')):.2f} / {lat.get('p50_ms_after', float('nan')):.2f} | "
            f"{lat.get('speedup')} | "
            f"{f['onnx_ort_rel_error']:.1e} | {w['substituted']} | "
            f"{w['substituted_macs_before']:,} -> {w['substituted_macs_after']:,} | "
            f"{w['substituted_mac_reduction']}x | {w['conv_mac_ratio']} | {w['onnx_ort_rel_error']:.1e} |"
        )
    return "\n".join(lines) + "\n"


def _flag(name: str, value: Any) -> str:
    flag = f"--{name.replace('_', '-')}"
    return flag if value is True else f"{flag} {' '.join(value) if isinstance(value, list) else value}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="zoo input size")
    parser.add_argument("--models", nargs="*", default=None, help="zoo models (default: every torchvision zoo model)")
    parser.add_argument("--skip-digits", action="store_true", help="keep the stored digits results")
    parser.add_argument("--skip-zoo", action="store_true", help="keep the stored zoo results")
    parser.add_argument("--train-epochs", type=int, default=8)
    parser.add_argument("--distill-epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    add_write_results(parser)
    args = parser.parse_args()
    global RESULTS
    RESULTS = output_dir(args)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = [] if args.skip_zoo else args.models or [e.name for e in edgecnn.list_models() if e.source == "torchvision"]
    # runs are kept under ~5 minutes by splitting the models: each run updates its entries in the stored results
    stored = RESULTS / "transforms.json"
    result: dict[str, Any] = json.loads(stored.read_text()) if stored.exists() else {"zoo": []}
    command = "python benchmarks/transforms.py " + " ".join(
        _flag(k, v) for k, v in vars(args).items() if v not in (None, False)
    )
    result.update({"environment": fingerprint(), "torch_threads": torch.get_num_threads()})
    result.setdefault("commands", []).append(command)
    if not args.skip_digits:
        result["digits"] = digits_section(args.train_epochs, args.distill_epochs)
        print(json.dumps({k: result["digits"][k] for k in ("accuracy", "conv_mac_ratio", "seconds")}), flush=True)
    zoo = {z["model"]: z for z in result["zoo"]}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            zoo[name] = zoo_section(name, args.size, Path(tmp))
            print(json.dumps({k: zoo[name][k] for k in ("model", "seconds")}), flush=True)
    result["zoo"] = list(zoo.values())
    atomic_write_text(stored, json.dumps(result, indent=2, default=str))
    atomic_write_text(RESULTS / "transforms.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()

"""`edgecnn prune`: structured channel pruning, latency-verified."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from edgecnn.cli.common import calibration, check_outputs, finish, load_spec, per_layer
from edgecnn.cli.console import console, escape, say
from edgecnn.cli.options import (
    Arch,
    AsJson,
    CalibData,
    CalibSize,
    DryRun,
    Latency,
    Model,
    Out,
    ReportPath,
    Seed,
    Target,
    Threads,
    Weights,
)
from edgecnn.errors import InvalidInputError

Layer = Annotated[list[str], typer.Option("--layer", help="NAME=VALUE: a module's own ratio / sparsity (repeatable).")]
Protect = Annotated[list[str], typer.Option("--protect", help="Module name to leave untouched (repeatable).")]


def prune_cmd(
    model: Model,
    ratio: Annotated[float, typer.Option("--ratio", "-r", help="Share of output channels to remove, in [0, 1).")],
    importance: Annotated[
        str, typer.Option("--importance", help="l1, l2, bn_scale, or the data-aware taylor / activation.")
    ] = "l1",
    global_pruning: Annotated[
        bool, typer.Option("--global", help="Rank channels across layers instead of within each layer.")
    ] = False,
    layer: Layer = [],  # noqa: B006 (typer copies list defaults)
    protect: Protect = [],  # noqa: B006
    stem_head: Annotated[
        bool, typer.Option("--protect-stem-head/--prune-stem-head", help="Keep the first conv and the head intact.")
    ] = True,
    round_to: Annotated[
        int, typer.Option("--round-to", help="Keep channel counts multiples of this (0: no rounding).")
    ] = 8,
    steps: Annotated[int, typer.Option("--steps", help="Reach the ratio in this many pruning steps.")] = 1,
    distill_epochs: Annotated[
        int,
        typer.Option(
            "--distill-epochs", help="Distil from the original for N epochs after each step (uses --calib-data)."
        ),
    ] = 0,
    calib_data: CalibData = None,
    calib_size: CalibSize = 128,
    target: Target = "onnxruntime",
    latency: Latency = True,
    threads: Threads = None,
    out: Out("Write the pruned model: .onnx (ONNX) or .pt (TorchScript).") = None,
    report_path: ReportPath = None,
    weights: Weights = "auto",
    seed: Seed = 0,
    arch: Arch = None,
    as_json: AsJson = False,
    dry_run: DryRun = False,
) -> None:
    """Remove whole channels (and everything coupled to them): a smaller dense model, timed against the original."""
    step = {
        "type": "prune",
        "ratio": ratio,
        "importance": importance,
        "global_pruning": global_pruning,
        "per_layer": per_layer(layer) or None,
        "protect": list(protect),
        "protect_stem_and_head": stem_head,
        "round_to": round_to or None,
        "iterative_steps": steps,
        "distill_between": distill_epochs,
        "check_latency": latency,
        "target": target,
        "threads": threads,
    }
    if dry_run:
        typer.echo(json.dumps({"model": {"name": model}, "steps": [step]}, indent=2))
        return
    if out is not None and out.suffix.lower() == ".pth":
        raise InvalidInputError(
            "a pruned model no longer fits its architecture's state dict: save it as .pt (TorchScript) or .onnx"
        )
    check_outputs(out, report_path)
    from edgecnn.passes.prune import prune

    spec = load_spec(model, weights, arch, seed=seed)
    needs_data = importance in ("taylor", "activation") or distill_epochs > 0
    calib = calibration(calib_data, spec, calib_size) if needs_data else None
    config = {k: v for k, v in step.items() if k != "type"}
    config["protect"] = tuple(config["protect"])
    pruned, report = prune(spec, **config, calib_data=calib, train_data=calib, return_report=True)
    finish(pruned, report, out, report_path, as_json, print_prune)


def print_prune(report: dict[str, Any]) -> None:

    p, m = report["params"], report["macs"]
    say(
        f"pruned ({report['importance']}): params {p['before']:,} -> {p['after']:,} (x{p['ratio']:.2f}), "
        f"MACs {m['before']:,} -> {m['after']:,} (x{m['ratio']:.2f}); {len(report['layers'])} layers narrowed, "
        f"protected: {', '.join(report['protected']) or 'none'}"
    )
    lat = report.get("latency")
    if lat and "speedup" in lat:
        colour = "green" if lat["faster"] else "bold red"
        console.print(
            f"[{colour}]{escape(lat['target'])}: "
            f"{lat['original_ms']['p50']:.3f} ms -> {lat['pruned_ms']['p50']:.3f} ms "
            f"(p50, side by side): x{lat['speedup']:.2f}{'' if lat['faster'] else ' NOT faster'}[/]",
            highlight=False,
        )
    elif lat:
        say(f"latency not checked: {lat.get('skipped')}")
    if report.get("output"):
        say(f"written: {report['output']}")

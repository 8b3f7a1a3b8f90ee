"""`edgecnn sparsify`: unstructured or 2:4 weight sparsity."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from edgecnn.cli.common import check_outputs, finish, load_spec, per_layer
from edgecnn.cli.console import say
from edgecnn.cli.options import Arch, AsJson, DryRun, Model, Out, ReportPath, Seed, Weights
from edgecnn.cli.prune import Layer, Protect


def sparsify_cmd(
    model: Model,
    sparsity: Annotated[
        float, typer.Option("--sparsity", "-s", help="Share of weights set to zero, in [0, 1) (2:4 is always 0.5).")
    ] = 0.5,
    pattern: Annotated[str, typer.Option("--pattern", help="unstructured or 2:4.")] = "unstructured",
    global_: Annotated[
        bool, typer.Option("--global", help="Unstructured: one magnitude threshold across all layers.")
    ] = False,
    layer: Layer = [],  # noqa: B006 (typer copies list defaults)
    protect: Protect = [],  # noqa: B006
    out: Out("Write the model: .onnx, .pt (TorchScript) or .pth (state dict).") = None,
    report_path: ReportPath = None,
    weights: Weights = "auto",
    seed: Seed = 0,
    arch: Arch = None,
    as_json: AsJson = False,
    dry_run: DryRun = False,
) -> None:
    """Zero small weights (unstructured or 2:4); shapes stay, so only sparse-kernel runtimes run it faster."""
    step = {
        "type": "sparsify",
        "sparsity": sparsity,
        "pattern": pattern,
        "global_": global_,
        "per_layer": per_layer(layer) or None,
        "protect": list(protect),
    }
    if dry_run:
        typer.echo(json.dumps({"model": {"name": model}, "steps": [step]}, indent=2))
        return
    check_outputs(out, report_path)
    from edgecnn.passes.sparsify import sparsify

    config = {k: v for k, v in step.items() if k != "type"}
    config["protect"] = tuple(config["protect"])
    result, report = sparsify(load_spec(model, weights, arch, seed=seed), **config, return_report=True)
    finish(result, report, out, report_path, as_json, print_sparsify)


def print_sparsify(report: dict[str, Any]) -> None:

    size = report["size"]
    say(
        f"{report['pattern']}: {100 * report['sparsity']['weights']:.1f}% of the weights of "
        f"{report['sparsity']['sparsified_layers']} layers are zero ({len(report['skipped'])} skipped); "
        f"zipped {size['zip_bytes_before']:,} -> {size['zip_bytes_after']:,} bytes, "
        f"{size['sparse_format']}: {size['sparse_format_bytes']:,} of {size['dense_fp32_bytes']:,} bytes"
    )
    say(report["speed"], style="yellow")
    if report.get("output"):
        say(f"written: {report['output']}")

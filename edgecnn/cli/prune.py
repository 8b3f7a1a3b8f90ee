"""`edgecnn prune` (structured channel pruning, latency-verified) and `edgecnn sparsify` (unstructured / 2:4)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import typer

from edgecnn.errors import InvalidInputError

_MODEL_HELP = "Zoo name, weights file (with --arch), package.module:factory or TorchScript file."


def register(app: typer.Typer) -> None:
    @app.command("prune")
    def prune_cmd(
        model: str = typer.Argument(..., help=_MODEL_HELP),
        ratio: float = typer.Option(..., "--ratio", "-r", help="Share of output channels to remove, in [0, 1)."),
        importance: str = typer.Option(
            "l1", "--importance", help="l1, l2, bn_scale, or the data-aware taylor / activation."
        ),
        global_pruning: bool = typer.Option(
            False, "--global", help="Rank channels across layers instead of within each layer."
        ),
        layer: list[str] = typer.Option([], "--layer", help="NAME=RATIO: a module's own ratio (repeatable)."),
        protect: list[str] = typer.Option([], "--protect", help="Module name to leave unpruned (repeatable)."),
        stem_head: bool = typer.Option(
            True, "--protect-stem-head/--prune-stem-head", help="Keep the first conv and the head intact."
        ),
        round_to: int = typer.Option(8, "--round-to", help="Keep channel counts multiples of this (0: no rounding)."),
        steps: int = typer.Option(1, "--steps", help="Reach the ratio in this many pruning steps."),
        distill_epochs: int = typer.Option(
            0, "--distill-epochs", help="Distil from the original for N epochs after each step (uses --calib-data)."
        ),
        calib_data: str | None = typer.Option(
            None,
            "--calib-data",
            help="Image folder or .npy/.npz for data-aware criteria and distillation (default: the bundled photos).",
        ),
        calib_size: int = typer.Option(128, "--calib-size", help="Calibration samples."),
        target: str = typer.Option("onnxruntime", "--target", "-t", help="Where the latency check runs."),
        latency: bool = typer.Option(
            True, "--latency/--no-latency", help="Time pruned vs original side by side on the target."
        ),
        threads: int | None = typer.Option(None, "--threads", help="Runtime threads for the latency check."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Write the pruned model: .onnx (ONNX) or .pt (TorchScript)."
        ),
        report_path: Path | None = typer.Option(None, "--report", help="Also write the report as JSON here."),
        weights: str = typer.Option("auto", "--weights", help="auto, pretrained, random, or a state-dict file."),
        arch: str | None = typer.Option(None, "--arch", help="Architecture for a weights file given as MODEL."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the recipe step this command runs, and stop."),
    ) -> None:
        """Remove whole channels (and everything coupled to them): a smaller dense model, timed against the original."""
        step = {
            "type": "prune",
            "ratio": ratio,
            "importance": importance,
            "global_pruning": global_pruning,
            "per_layer": _per_layer(layer) or None,
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
        from edgecnn.passes.prune import prune

        spec = _load(model, weights, arch)
        needs_data = importance in ("taylor", "activation") or distill_epochs > 0
        calib = _calibration(calib_data, spec, calib_size) if needs_data else None
        config = {k: v for k, v in step.items() if k != "type"}
        config["protect"] = tuple(config["protect"])
        pruned, report = prune(spec, **config, calib_data=calib, train_data=calib, return_report=True)
        _finish(pruned, report, out, report_path, as_json, _print_prune)

    @app.command("sparsify")
    def sparsify_cmd(
        model: str = typer.Argument(..., help=_MODEL_HELP),
        sparsity: float = typer.Option(
            0.5, "--sparsity", "-s", help="Share of weights set to zero, in [0, 1) (2:4 is always 0.5)."
        ),
        pattern: str = typer.Option("unstructured", "--pattern", help="unstructured or 2:4."),
        global_: bool = typer.Option(
            False, "--global", help="Unstructured: one magnitude threshold across all layers."
        ),
        layer: list[str] = typer.Option([], "--layer", help="NAME=SPARSITY: a module's own sparsity (repeatable)."),
        protect: list[str] = typer.Option([], "--protect", help="Module name to leave dense (repeatable)."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Write the model: .onnx, .pt (TorchScript) or .pth (state dict)."
        ),
        report_path: Path | None = typer.Option(None, "--report", help="Also write the report as JSON here."),
        weights: str = typer.Option("auto", "--weights", help="auto, pretrained, random, or a state-dict file."),
        arch: str | None = typer.Option(None, "--arch", help="Architecture for a weights file given as MODEL."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the recipe step this command runs, and stop."),
    ) -> None:
        """Zero small weights (unstructured or 2:4); shapes stay, so only sparse-kernel runtimes run it faster."""
        step = {
            "type": "sparsify",
            "sparsity": sparsity,
            "pattern": pattern,
            "global_": global_,
            "per_layer": _per_layer(layer) or None,
            "protect": list(protect),
        }
        if dry_run:
            typer.echo(json.dumps({"model": {"name": model}, "steps": [step]}, indent=2))
            return
        from edgecnn.passes.sparsify import sparsify

        config = {k: v for k, v in step.items() if k != "type"}
        config["protect"] = tuple(config["protect"])
        result, report = sparsify(_load(model, weights, arch), **config, return_report=True)
        _finish(result, report, out, report_path, as_json, _print_sparsify)


def _per_layer(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            out[name] = float(value)
        except ValueError:
            name = ""
        if not sep or not name:
            raise InvalidInputError(f"--layer expects NAME=VALUE (e.g. layer3.0.conv1=0.5), got '{item}'")
    return out


def _load(model: str, weights: str, arch: str | None) -> Any:
    from edgecnn.zoo.loader import load_model

    return load_model(model, weights=weights, arch=arch)


def _calibration(source: str | None, spec: Any, size: int) -> Any:
    from edgecnn.quant.calibration import load_calibration

    return load_calibration(source, spec, size=size)


def _finish(spec: Any, step: dict[str, Any], out: Path | None, report_path: Path | None, as_json: bool, show) -> None:
    from edgecnn.fileio import atomic_write_text

    if out is not None:
        step["report"]["output"] = str(_save(spec, out))
    text = json.dumps(step, indent=2, default=str)
    if report_path:
        atomic_write_text(report_path, text)
    if as_json:
        typer.echo(text)
    else:
        show(step["report"])


def _save(spec: Any, out: Path) -> Path:
    """.onnx: checked ONNX export; .pt/.ts: TorchScript (`edgecnn` loads it back by path); .pth: state dict."""
    import torch

    from edgecnn.fileio import atomic_path

    suffix = out.suffix.lower()
    if suffix == ".onnx":
        from edgecnn.exporters.onnx import export_onnx

        return export_onnx(spec, out).path
    if suffix not in (".pt", ".ts", ".pth"):
        raise InvalidInputError(f"--out must end in .onnx, .pt, .ts or .pth, got {out.name}")
    with atomic_path(out) as tmp:
        if suffix == ".pth":  # the architecture is unchanged only when no channel was removed (sparsify)
            torch.save(spec.module.state_dict(), tmp)
        else:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit's deprecation notice; TorchScript still loads everywhere
                torch.jit.trace(spec.module.eval(), spec.example_input(1)).save(str(tmp))
    return out


def _print_prune(report: dict[str, Any]) -> None:
    from edgecnn.cli.console import console

    p, m = report["params"], report["macs"]
    console.print(
        f"pruned ({report['importance']}): params {p['before']:,} -> {p['after']:,} (x{p['ratio']:.2f}), "
        f"MACs {m['before']:,} -> {m['after']:,} (x{m['ratio']:.2f}); {len(report['layers'])} layers narrowed, "
        f"protected: {', '.join(report['protected']) or 'none'}",
        highlight=False,
    )
    lat = report.get("latency")
    if lat and "speedup" in lat:
        colour = "green" if lat["faster"] else "bold red"
        console.print(
            f"[{colour}]{lat['target']}: {lat['original_ms']['p50']:.3f} ms -> {lat['pruned_ms']['p50']:.3f} ms "
            f"(p50, side by side): x{lat['speedup']:.2f}{'' if lat['faster'] else ' NOT faster'}[/]",
            highlight=False,
        )
    elif lat:
        console.print(f"latency not checked: {lat.get('skipped')}", highlight=False)
    if report.get("output"):
        console.print(f"written: {report['output']}", highlight=False)


def _print_sparsify(report: dict[str, Any]) -> None:
    from edgecnn.cli.console import console

    size = report["size"]
    console.print(
        f"{report['pattern']}: {100 * report['sparsity']['weights']:.1f}% of the weights of "
        f"{report['sparsity']['sparsified_layers']} layers are zero ({len(report['skipped'])} skipped); "
        f"zipped {size['zip_bytes_before']:,} -> {size['zip_bytes_after']:,} bytes, "
        f"{size['sparse_format']}: {size['sparse_format_bytes']:,} of {size['dense_fp32_bytes']:,} bytes",
        highlight=False,
    )
    console.print(f"[yellow]{report['speed']}[/]", highlight=False)
    if report.get("output"):
        console.print(f"written: {report['output']}", highlight=False)

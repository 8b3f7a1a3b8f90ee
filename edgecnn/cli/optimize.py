"""`edgecnn optimize`: the main job. Builds the same Recipe as `edgecnn.optimize` and runs it."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("optimize")
    def optimize(
        model: str | None = typer.Argument(
            None, help="Zoo name, weights file (with --arch), package.module:factory, TorchScript or ONNX file."
        ),
        int8: bool = typer.Option(False, "--int8", help="Calibrated int8 post-training quantization for the target."),
        fp16: bool = typer.Option(False, "--fp16", help="fp16 conversion."),
        prune: float | None = typer.Option(
            None, "--prune", metavar="RATIO", help="Structured channel pruning ratio in [0, 1)."
        ),
        fold_bn: bool | None = typer.Option(
            None, "--fold-bn/--no-fold-bn", help="Fold BatchNorm into convolutions (default on)."
        ),
        dw_separable: bool = typer.Option(
            False, "--dw-separable", help="Substitute dense kxk convs by depthwise-separable pairs, then distill."
        ),
        target: str | None = typer.Option(
            None, "--target", "-t", help="onnxruntime | openvino | tensorrt | cuda | arm (default onnxruntime)."
        ),
        device: str | None = typer.Option(
            None, "--device", help="tcp://HOST:PORT of an edgecnn agent (arm / remote devices)."
        ),
        token: str | None = typer.Option(
            None, "--token", envvar="EDGECNN_AGENT_TOKEN", help="The agent's shared token."
        ),
        calib_data: str | None = typer.Option(
            None, "--calib-data", help="Calibration images folder or .npy/.npz (default: shipped photos)."
        ),
        calib_size: int | None = typer.Option(
            None, "--calib-size", help="Number of calibration samples (default 300)."
        ),
        eval_data: str | None = typer.Option(
            None, "--eval-data", help="Labelled data (ImageFolder or .npz with x, y) for accuracy."
        ),
        max_accuracy_drop: float | None = typer.Option(
            None, "--max-accuracy-drop", help="Gate: max top-1 drop in points."
        ),
        min_speedup: float | None = typer.Option(
            None, "--min-speedup", help="Gate: minimum speed-up over the float baseline."
        ),
        require_speedup: bool = typer.Option(
            False, "--require-speedup", help="Gate: fail (exit 3) if not faster than the baseline."
        ),
        weights: str | None = typer.Option(None, "--weights", help="auto | pretrained | random | state-dict file."),
        arch: str | None = typer.Option(None, "--arch", help="Zoo architecture of a weights file."),
        input_shape: str | None = typer.Option(
            None,
            "--input-shape",
            metavar="N,C,H,W",
            help="Input shape, e.g. 1,3,160,160 or 1x3x160x160 (N C L for 1-D models).",
        ),
        threads: int | None = typer.Option(
            None, "--threads", help="Inference threads for profiling (default: all physical cores)."
        ),
        recipe: str | None = typer.Option(
            None, "--recipe", help="Recipe file or shipped recipe name; flags override its fields."
        ),
        out: Path = typer.Option(Path("edgecnn-out"), "--out", "-o", help="Output directory."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the equivalent recipe YAML and run nothing."),
        as_json: bool = typer.Option(False, "--json", help="Print report.json to stdout instead of the table."),
    ) -> None:
        """Optimize a model for a target: transforms, export, quantize, validate, profile vs float baseline, bundle, report."""
        from edgecnn.cli.inspect import parse_shape
        from edgecnn.errors import GateFailedError
        from edgecnn.pipeline.build import build_recipe
        from edgecnn.pipeline.shipped import resolve_recipe

        rec = build_recipe(
            model,
            recipe=resolve_recipe(recipe) if recipe else None,
            target=target,
            int8=int8,
            fp16=fp16,
            prune=prune,
            fold_bn=fold_bn,
            dw_separable=dw_separable,
            calib_data=calib_data,
            calib_size=calib_size,
            eval_data=eval_data,
            max_accuracy_drop=max_accuracy_drop,
            min_speedup=min_speedup,
            require_speedup=require_speedup,
            weights=weights,
            arch=arch,
            input_shape=list(parse_shape(input_shape)) if input_shape else None,
            device=device,
            token=token,
            threads=threads,
        )
        if dry_run:
            typer.echo(rec.to_yaml(), nl=False)
            return
        from edgecnn.pipeline.runner import failed_gates_message, run_recipe

        result = run_recipe(rec, out_dir=out)
        if as_json:
            typer.echo(json.dumps(result.report, indent=2, default=str))
        else:
            print_summary(result)
        failed = failed_gates_message(result)
        if failed:
            raise GateFailedError(failed)


def print_summary(result) -> None:
    """The closing table: float baseline vs optimized, then what was written and what was not done."""
    from rich.table import Table

    from edgecnn.cli.console import console
    from edgecnn.report.markdown import summary_rows

    report = result.report
    backend = (report.get("optimized") or {}).get("backend") or report["target"]
    table = Table(title=f"{report['model']['name']} -> {report['target']} (measured side by side on {backend})")
    table.add_column("metric")
    table.add_column("float baseline", justify="right")
    table.add_column("optimized", justify="right")
    for metric, base, opt in summary_rows(report):
        style = (
            "bold red" if metric == "speed-up" and report.get("speedup") is not None and report["speedup"] < 1 else None
        )
        table.add_row(metric, base, opt, style=style)
    console.print(table)
    for gate in report.get("gates", []):
        word = {True: "[green]passed[/]", False: "[bold red]FAILED[/]", None: "[yellow]skipped[/]"}[gate["passed"]]
        console.print(
            f"gate {gate['name']} (threshold {gate['threshold']}): {word}{' — ' + gate['reason'] if gate.get('reason') else ''}"
        )
    for note in report.get("notes", []):
        console.print(f"[yellow]note:[/] {note}", highlight=False)
    for item in report.get("not_done", []):
        console.print(f"[bold yellow]not done:[/] {item}", highlight=False)
    for art in report.get("artifacts", []):
        console.print(f"wrote {art['role']:<11} {art['path']}", highlight=False)
    for kind, path in result.report_paths.items():
        console.print(f"wrote report      {path}", highlight=False)

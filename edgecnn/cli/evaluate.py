"""`edgecnn evaluate`: accuracy on labelled data and fidelity against a float reference, for any model file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        artifact: str = typer.Argument(..., help="Model file (.onnx, .xml, ...) or zoo name."),
        data: str = typer.Option(..., "--data", "-d", help="ImageFolder, .npy/.npz (x, optional y), or 'digits'."),
        reference: str | None = typer.Option(
            None, "--reference", "-r", help="A float model file to measure fidelity against."
        ),
        size: int | None = typer.Option(
            None, "--size", help="Evaluate on a seeded random subset of this many samples."
        ),
        threads: int | None = typer.Option(None, "--threads", help="Inference threads."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Accuracy (top-1/top-5) on labelled data and fidelity (agreement, SQNR, cosine) against a float reference."""
        from edgecnn.evaluation.api import evaluate

        model: Any = artifact
        if not Path(artifact).exists():
            from edgecnn.zoo.loader import load_model

            model = load_model(artifact)
        result = evaluate(model, data, reference=reference, size=size, threads=threads)
        if as_json:
            typer.echo(json.dumps(result, indent=2, default=str))
            return
        from edgecnn.cli.console import console

        console.print(f"samples: {result['samples']}", highlight=False)
        if result["accuracy"]:
            console.print(
                "accuracy: " + ", ".join(f"{k} {v:.2f}%" for k, v in result["accuracy"].items()), highlight=False
            )
        else:
            console.print(f"[yellow]accuracy: none[/] ({result.get('accuracy_reason')})", highlight=False)
        if result["fidelity"]:
            f = result["fidelity"]
            console.print(
                f"fidelity vs reference: top-1 agreement {f['top1_agreement']:.2f}%, SQNR {f['sqnr_db']:.2f} dB, "
                f"cosine {f['cosine']:.5f}",
                highlight=False,
            )
        if "accuracy_delta" in result:
            console.print(f"accuracy delta vs reference: {result['accuracy_delta']:+.2f} points", highlight=False)

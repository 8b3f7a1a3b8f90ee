"""`edgecnn evaluate`: accuracy on labelled data and fidelity against a float reference, for any model file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgecnn.cli.console import say
from edgecnn.cli.options import AsJson, Threads
from edgecnn.evaluation.api import evaluate


def evaluate_cmd(
    artifact: Annotated[
        str, typer.Argument(help="Model file (.onnx, .xml, ...) or zoo name / family.", show_default=False)
    ],
    data: Annotated[
        str,
        typer.Option("--data", "-d", help="ImageFolder, .npy/.npz (x, optional y), or 'digits'.", show_default=False),
    ],
    reference: Annotated[
        str | None, typer.Option("--reference", "-r", help="A float model file to measure fidelity against.")
    ] = None,
    size: Annotated[
        int | None, typer.Option("--size", help="Evaluate on a seeded random subset of this many samples.")
    ] = None,
    threads: Threads = None,
    as_json: AsJson = False,
) -> None:
    """Accuracy (top-1/top-5) on labelled data and fidelity (agreement, SQNR, cosine) against a float reference."""

    model: Any = artifact
    if not Path(artifact).exists():
        from edgecnn.zoo.loader import load_model

        model = load_model(artifact)
    result = evaluate(model, data, reference=reference, size=size, threads=threads)
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
        return

    say(f"samples: {result['samples']}")
    if result["accuracy"]:
        say("accuracy: " + ", ".join(f"{k} {v:.2f}%" for k, v in result["accuracy"].items()))
    else:
        say(f"({result.get('accuracy_reason')})", prefix="[yellow]accuracy: none[/] ")
    if result["fidelity"]:
        f = result["fidelity"]
        say(
            f"fidelity vs reference: top-1 agreement {f['top1_agreement']:.2%}, SQNR {f['sqnr_db']:.2f} dB, "
            f"cosine {f['cosine']:.5f}"
        )
    if "accuracy_delta" in result:
        say(f"accuracy delta vs reference: {result['accuracy_delta']:+.2f} points")

"""`edgecnn bundle`: pack artifacts into a deployment bundle; `edgecnn bundle-run`: verify one and predict."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("bundle")
    def bundle_cmd(
        artifacts: list[Path] = typer.Argument(..., help="Model files: .onnx, .xml (OpenVINO IR), .engine."),
        out: Path = typer.Option(..., "--out", "-o", help="Bundle folder, or a .zip file."),
        as_zip: bool = typer.Option(False, "--zip", help="Write a .zip instead of a folder."),
        model: str | None = typer.Option(
            None, "--model", help="Zoo model the artifacts came from: its preprocessing and labels go in the manifest."
        ),
        labels: Path | None = typer.Option(None, "--labels", help="Text file with one class label per line."),
        name: str | None = typer.Option(None, "--name", help="Bundle name (default: the model's)."),
    ) -> None:
        """Write a deployment bundle: the artifacts, manifest.json (IO, preprocessing, labels, versions, sha256) and a README."""
        from edgecnn.bundles.writer import write_bundle
        from edgecnn.cli.console import console
        from edgecnn.errors import InvalidInputError

        spec = None
        if model:
            from edgecnn.zoo.loader import load_model

            spec = load_model(model, weights="random")  # only its input, preprocessing and labels are used
        label_list = None
        if labels:
            if not labels.is_file():
                raise InvalidInputError(f"labels file not found: {labels}")
            label_list = [line.strip() for line in labels.read_text().splitlines() if line.strip()]
        path = write_bundle([str(a) for a in artifacts], out, spec=spec, zip=as_zip, labels=label_list, name=name)
        console.print(f"[green]bundle written[/]: {path}", highlight=False)

    @app.command("bundle-run")
    def bundle_run_cmd(
        bundle: Path = typer.Argument(..., help="Bundle folder or .zip."),
        inputs: list[Path] = typer.Argument(None, help="Image files (or a .npy batch) to classify; none: only verify."),
        artifact: str | None = typer.Option(
            None, "--artifact", help="Artifact name in the bundle (default: the first runnable)."
        ),
        threads: int | None = typer.Option(None, "--threads", help="Runtime threads."),
        top_k: int = typer.Option(5, "--top-k", help="Classes to show per input."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Verify a bundle (sha256, runtime version) and classify images with it, without PyTorch."""
        import numpy as np

        from edgecnn.bundles.loader import load
        from edgecnn.cli.console import console

        predictor = load(bundle, artifact=artifact, threads=threads)
        results = []
        for path in inputs or []:
            x = np.load(path) if path.suffix == ".npy" else path
            results.append({"input": str(path), "top": predictor.classify(x, top_k=top_k)})
        if as_json:
            typer.echo(
                json.dumps(
                    {"artifact": predictor.entry["name"], "runtime": predictor.runtime, "results": results}, indent=2
                )
            )
            return
        console.print(
            f"[green]verified[/]: {bundle} -> {predictor.entry['file']} on {predictor.runtime['backend']} "
            f"{predictor.runtime['version']}",
            highlight=False,
        )
        for result in results:
            for i, top in enumerate(result["top"]):
                shown = ", ".join(f"{label} {p:.1%}" for label, p in top)
                console.print(
                    f"{result['input']}{f'[{i}]' if len(result['top']) > 1 else ''}: {shown}", highlight=False
                )

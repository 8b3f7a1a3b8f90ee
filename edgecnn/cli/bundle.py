"""`edgecnn bundle`: pack artifacts into a deployment bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgecnn.artifact import Artifact
from edgecnn.bundles.writer import write_bundle
from edgecnn.cli.console import say
from edgecnn.errors import InvalidInputError
from edgecnn.fileio import check_out_dir, check_out_file


def bundle_cmd(
    artifacts: Annotated[
        list[Path], typer.Argument(help="Model files: .onnx, .xml (OpenVINO IR), .engine.", show_default=False)
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bundle folder, or a .zip file.", show_default=False)],
    as_zip: Annotated[bool, typer.Option("--zip", help="Write a .zip instead of a folder.")] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Zoo model the artifacts came from: its preprocessing and labels go in the manifest."
        ),
    ] = None,
    labels: Annotated[Path | None, typer.Option("--labels", help="Text file with one class label per line.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Bundle name (default: the model's).")] = None,
) -> None:
    """Write a deployment bundle: artifacts, manifest.json (IO, preprocessing, labels, versions, sha256), README."""

    arts = [Artifact.from_path(a) for a in artifacts]  # the inputs first: a missing or corrupt file is named
    # before the zoo model is loaded: a folder bundle replaces `out` as a whole, so it must be new, empty or a bundle
    if as_zip or out.suffix.lower() == ".zip":
        check_out_file(out if out.suffix.lower() == ".zip" else out.with_suffix(".zip"))
    else:
        check_out_dir(out, marker="manifest.json")
    spec = None
    if model:
        from edgecnn.zoo.loader import load_model

        spec = load_model(model, weights="random")  # only its input, preprocessing and labels are used
    label_list = None
    if labels:
        if not labels.is_file():
            raise InvalidInputError(f"labels file not found: {labels}")
        label_list = [line.strip() for line in labels.read_text().splitlines() if line.strip()]
    path = write_bundle(arts, out, spec=spec, zip=as_zip, labels=label_list, name=name)
    say(path, prefix="[green]bundle written[/]: ")

"""`edgecnn bundle-run`: verify a deployment bundle and predict with it, without PyTorch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgecnn.bundles.loader import load
from edgecnn.cli.console import say
from edgecnn.cli.options import AsJson, Threads


def bundle_run_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle folder or .zip.", show_default=False)],
    inputs: Annotated[
        list[Path] | None, typer.Argument(help="Image files (or a .npy batch) to classify; none: only verify.")
    ] = None,
    artifact: Annotated[
        str | None, typer.Option("--artifact", help="Artifact name in the bundle (default: the first runnable).")
    ] = None,
    threads: Threads = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Classes to show per input.")] = 5,
    as_json: AsJson = False,
) -> None:
    """Verify a bundle (sha256, runtime version) and classify images with it, without PyTorch."""

    predictor = load(bundle, artifact=artifact, threads=threads)
    results = []
    for path in inputs or []:
        x = _read_npy(path) if path.suffix == ".npy" else path
        results.append({"input": str(path), "top": predictor.classify(x, top_k=top_k)})
    if as_json:
        typer.echo(
            json.dumps(
                {"artifact": predictor.entry["name"], "runtime": predictor.runtime, "results": results}, indent=2
            )
        )
        return
    say(
        f"{bundle} -> {predictor.entry['file']} on {predictor.runtime['backend']} {predictor.runtime['version']}",
        prefix="[green]verified[/]: ",
    )
    for result in results:
        for i, top in enumerate(result["top"]):
            shown = ", ".join(f"{label} {p:.1%}" for label, p in top)
            say(f"{result['input']}{f'[{i}]' if len(result['top']) > 1 else ''}: {shown}")


def _read_npy(path: Path):
    """A .npy batch for the bundle: no pickled objects; an unreadable file is a user error."""
    import numpy as np

    from edgecnn.errors import InvalidInputError

    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InvalidInputError(f"input not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path} as a .npy array: {str(exc).splitlines()[0]}") from None

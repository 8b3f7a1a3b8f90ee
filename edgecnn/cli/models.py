"""`edgecnn models`: the zoo as a table (name, family alias, params, MACs, default input, source)."""

from __future__ import annotations

import json

from edgecnn.analysis.summary import count_params_macs
from edgecnn.cli.console import console, err_console, escape
from edgecnn.cli.options import AsJson
from edgecnn.zoo import list_models, load_model
from edgecnn.zoo.registry import aliases_of


def models(as_json: AsJson = False) -> None:
    """List the model zoo. A family name (mobilenet, efficientnet, resnet, vgg) stands for its default member."""
    import typer
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    rows = []
    entries = list_models()
    # building every architecture and counting it on a real forward pass takes tens of seconds
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("counting params and MACs", total=len(entries))
        for entry in entries:
            progress.update(task, description=f"counting {entry.name}")
            params, macs = count_params_macs(load_model(entry.name, weights="random"))
            rows.append(
                {
                    "name": entry.name,
                    "family": entry.family,
                    "aliases": aliases_of(entry.name),
                    "params": params,
                    "macs": macs,
                    "input": list(entry.input_shape[1:]),
                    "source": entry.source,
                }
            )
            progress.advance(task)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title="edgecnn model zoo")
    for col in ("name", "family", "alias", "params", "MACs", "default input", "source"):
        table.add_column(col, justify="right" if col in ("params", "MACs") else "left", no_wrap=True)
    for r in rows:
        table.add_row(
            escape(r["name"]),
            escape(r["family"]),
            escape(", ".join(r["aliases"])),
            _count(r["params"]),
            _count(r["macs"]),
            "x".join(map(str, r["input"])),
            escape(r["source"]),
        )
    # piped output has no terminal width: do not squash the table to rich's default 80 columns
    out = console if console.is_terminal else Console(width=120)
    out.print(table)
    out.print(
        "alias: a family name given as MODEL loads the family's default member "
        "(e.g. `edgecnn optimize mobilenet` optimizes mobilenet_v2)",
        highlight=False,
    )


def _count(n: int) -> str:
    """3 significant-ish digits with a K/M/G suffix (LeNet's 0.4M MACs would read 0.000G otherwise)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.3f}{suffix}" if scale == 1e9 else f"{n / scale:.2f}{suffix}"
    return str(n)

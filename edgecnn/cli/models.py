"""`edgecnn models`: the zoo as a table (name, family, params, MACs, default input, source)."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """List the model zoo."""
        from rich.console import Console
        from rich.progress import Progress
        from rich.table import Table

        from edgecnn.analysis.summary import count_params_macs
        from edgecnn.cli.console import console, err_console
        from edgecnn.zoo import list_models, load_model

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
        for col in ("name", "family", "params", "MACs", "default input", "source"):
            table.add_column(col, justify="right" if col in ("params", "MACs") else "left", no_wrap=True)
        for r in rows:
            table.add_row(
                r["name"],
                r["family"],
                _count(r["params"]),
                _count(r["macs"]),
                "x".join(map(str, r["input"])),
                r["source"],
            )
        # piped output has no terminal width: do not squash the table to rich's default 80 columns
        (console if console.is_terminal else Console(width=120)).print(table)


def _count(n: int) -> str:
    """3 significant-ish digits with a K/M/G suffix (LeNet's 0.4M MACs would read 0.000G otherwise)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.3f}{suffix}" if scale == 1e9 else f"{n / scale:.2f}{suffix}"
    return str(n)

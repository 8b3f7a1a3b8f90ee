"""`edgecnn models`: the zoo as a table (name, family, params, MACs, default input, source)."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    @app.command("models")
    def models(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
        """List the model zoo."""
        from rich.table import Table

        from edgecnn.analysis.summary import count_params_macs
        from edgecnn.cli.console import console
        from edgecnn.zoo import list_models, load_model

        rows = []
        for entry in list_models():
            spec = load_model(entry.name, weights="random")
            params, macs = count_params_macs(spec)
            rows.append({"name": entry.name, "family": entry.family, "params": params, "macs": macs,
                         "input": list(entry.input_shape[1:]), "source": entry.source})
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        table = Table(title="edgecnn model zoo")
        for col in ("name", "family", "params", "MACs", "default input", "source"):
            table.add_column(col, justify="right" if col in ("params", "MACs") else "left")
        for r in rows:
            table.add_row(r["name"], r["family"], f"{r['params'] / 1e6:.2f}M", f"{r['macs'] / 1e9:.3f}G",
                          "x".join(map(str, r["input"])), r["source"])
        console.print(table)

"""`edgecnn sweep SWEEP.yaml`: many optimize runs (models x recipes x targets) on Ray, gathered into one leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgecnn.cli.console import console, escape, say
from edgecnn.errors import GateFailedError
from edgecnn.report.leaderboard import cell_text
from edgecnn.sweeps.api import sweep


def sweep_cmd(
    sweep_file: Annotated[
        Path, typer.Argument(help="Sweep YAML file (see benchmarks/sweeps/).", show_default=False, metavar="SWEEP.yaml")
    ],
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Ray cluster to run on: auto (the cluster this machine belongs to) or ray://HOST:10001. "
            "Default: Ray started here, on this machine's cores.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (cells and the leaderboard).")] = Path(
        "edgecnn-sweep"
    ),
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted sweep in OUT: finished cells are not run again.")
    ] = False,
    storage: Annotated[
        Path | None,
        typer.Option(
            "--storage", help="A folder every node can write: cells leave their files there (default: shipped to OUT)."
        ),
    ] = None,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="Run the cells one after another in this process, without Ray.")
    ] = False,
) -> None:
    """Optimize every model with every recipe for every target, in parallel on Ray; a leaderboard of the results.

    Exit 3 when a cell failed (the leaderboard marks it and says why; the other cells complete).
    """
    result = sweep(sweep_file, address=address, out_dir=out, resume=resume, storage=storage, sequential=sequential)
    from rich.table import Table

    columns = ("model", "recipe", "target", "status", "optimized_p50_ms", "speedup", "accuracy", "measured_on")
    table = Table(title=escape(f"sweep {result.leaderboard['name']}"))
    for key in columns:
        table.add_column(key)
    for row in result.rows:
        table.add_row(*(escape(cell_text(row, key)) for key in columns), style="red" if row["status"] != "ok" else None)
    console.print(table)
    for path in result.report_paths.values():
        say(f"wrote {path}")
    if result.failed:
        raise GateFailedError(
            f"{len(result.failed)} of {len(result.rows)} cells failed (see {result.report_paths['md']})"
        )

"""The `edgecnn` command: a thin layer over the API. Each command lives in its own module.

Exit codes: 0 success, 2 user error (one clear line), 1 internal error, 3 a gate failed.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from edgecnn import __version__

app = typer.Typer(
    name="edgecnn",
    help="Make a trained CNN fast on an edge target, verified by accuracy and side-by-side latency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# each module defines `register(app)`; command bodies import heavy libraries lazily
COMMAND_MODULES = [  # in the order `edgecnn --help` lists them
    "edgecnn.cli.optimize",
    "edgecnn.cli.models",
    "edgecnn.cli.inspect",
    "edgecnn.cli.prune",
    "edgecnn.cli.quantize",
    "edgecnn.cli.export",
    "edgecnn.cli.evaluate",
    "edgecnn.cli.profile",
    "edgecnn.cli.bundle",
    "edgecnn.cli.bench",
    "edgecnn.cli.recipes",
    "edgecnn.cli.report",
    "edgecnn.cli.agent",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgecnn {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    from rich.logging import RichHandler

    from edgecnn import progress
    from edgecnn.cli.console import err_console

    progress.use_console(err_console)  # library progress bars share the CLI's stderr console
    # edgecnn's own progress at INFO; other libraries (ORT's quantizer, matplotlib) only when they warn
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_time=False, show_path=False)],
    )
    logging.getLogger("edgecnn").setLevel(logging.DEBUG if verbose else logging.INFO)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def run() -> None:
    """Console-script entry point: user errors become one line and exit 2; bugs exit 1 with a hint."""
    from edgecnn.cli.console import err_console
    from edgecnn.errors import EdgeCNNError, GateFailedError, UserError

    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except GateFailedError as exc:
        err_console.print(f"[bold red]gate failed:[/] {exc}", highlight=False)
        sys.exit(3)
    except UserError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except EdgeCNNError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors (click's, or typer's vendored click) first; anything else is a bug
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("EDGECNN_DEBUG"):
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
            "This is a bug in edgecnn. Re-run with EDGECNN_DEBUG=1 for the traceback and please report it.",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    run()

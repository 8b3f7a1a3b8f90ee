"""The `edgecnn` command: a thin layer over the API. Each command is a plain function in its own module.

Exit codes: 0 success, 2 user error (one clear line), 1 internal error, 3 a gate failed.
Command modules import only typer and `edgecnn.cli.options` at import time (`edgecnn --help` stays torch-free);
their bodies import the heavy libraries they need.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from edgecnn import __version__, progress
from edgecnn.cli import (
    agent,
    bench,
    bundle,
    bundle_run,
    evaluate,
    export,
    inspect,
    models,
    optimize,
    profile,
    prune,
    quantize,
    recipes,
    report,
    sparsify,
    trt_rules,
)
from edgecnn.cli.console import err_console, error
from edgecnn.cli.options import ShapeCommand
from edgecnn.errors import EdgeCNNError, GateFailedError, UserError

app = typer.Typer(
    name="edgecnn",
    help="Make a trained CNN fast on an edge target, verified by accuracy and side-by-side latency.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(
    help="Latency-regression benchmarks for CI: run suites, compare with a baseline, A/B two models.",
    no_args_is_help=True,
)
agent_app = typer.Typer(
    help="Run the device agent that profiles models for a host (`edgecnn profile --device`).", no_args_is_help=True
)


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

    progress.use_console(err_console)  # library progress bars share the CLI's stderr console
    # edgecnn's own progress at INFO; other libraries (ORT's quantizer, matplotlib) only when they warn
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_time=False, show_path=False)],
    )
    logging.getLogger("edgecnn").setLevel(logging.DEBUG if verbose else logging.INFO)


# the commands, in the order `edgecnn --help` lists them
app.command("optimize", cls=ShapeCommand)(optimize.optimize)
app.command("models")(models.models)
app.command("inspect", cls=ShapeCommand)(inspect.inspect)
app.command("prune")(prune.prune_cmd)
app.command("sparsify")(sparsify.sparsify_cmd)
app.command("quantize")(quantize.quantize_cmd)
app.command("export", cls=ShapeCommand)(export.export_cmd)
app.command("trt-rules")(trt_rules.trt_rules_cmd)
app.command("evaluate")(evaluate.evaluate_cmd)
app.command("profile")(profile.profile)
app.command("bundle")(bundle.bundle_cmd)
app.command("bundle-run")(bundle_run.bundle_run_cmd)
app.add_typer(bench_app, name="bench")
bench_app.command("run")(bench.run_cmd)
bench_app.command("compare")(bench.compare_cmd)
bench_app.command("ab")(bench.ab_cmd)
app.command("recipes")(recipes.recipes)
app.command("report")(report.report_cmd)
app.add_typer(agent_app, name="agent")
agent_app.command("serve")(agent.serve)


def run() -> None:
    """Console-script entry point: user errors become one line and exit 2; bugs exit 1 with a hint."""

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
        error(exc, label="gate failed:", soft_wrap=False)
        sys.exit(3)
    except UserError as exc:
        error(exc)
        sys.exit(2)
    except EdgeCNNError as exc:
        error(exc)
        sys.exit(exc.exit_code)
    except Exception as exc:  # usage errors (click's, or typer's vendored click) first; anything else is a bug
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("EDGECNN_DEBUG"):
            raise
        error(
            f"{type(exc).__name__}: {exc}\n"
            "This is a bug in edgecnn. Re-run with EDGECNN_DEBUG=1 for the traceback and please report it.",
            label="internal error:",
        )
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    run()

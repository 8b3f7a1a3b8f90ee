"""The `edgecnn` command: a thin layer over the API. Each command is a plain function in its own module.

Exit codes: 0 success, 2 user error (one clear line), 1 internal error, 3 a gate failed.
Command modules import only typer and `edgecnn.cli.options` at import time (`edgecnn --help` stays torch-free);
their bodies import the heavy libraries they need.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from types import FrameType
from typing import NoReturn

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
    search,
    sparsify,
    sweep,
    trt_rules,
)
from edgecnn.cli.console import err_console, error
from edgecnn.cli.options import SHAPE_SYNTAX
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
app.command("optimize")(optimize.optimize)
app.command("search")(search.search_cmd)
app.command("models")(models.models)
app.command("inspect")(inspect.inspect)
app.command("prune")(prune.prune_cmd)
app.command("sparsify")(sparsify.sparsify_cmd)
app.command("quantize")(quantize.quantize_cmd)
app.command("export")(export.export_cmd)
app.command("trt-rules")(trt_rules.trt_rules_cmd)
app.command("evaluate")(evaluate.evaluate_cmd)
app.command("profile")(profile.profile)
app.command("bundle")(bundle.bundle_cmd)
app.command("bundle-run")(bundle_run.bundle_run_cmd)
app.add_typer(bench_app, name="bench")
bench_app.command("run")(bench.run_cmd)
bench_app.command("compare")(bench.compare_cmd)
bench_app.command("ab")(bench.ab_cmd)
app.command("sweep")(sweep.sweep_cmd)
app.command("recipes")(recipes.recipes)
app.command("report")(report.report_cmd)
app.add_typer(agent_app, name="agent")
agent_app.command("serve")(agent.serve)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt so `finally` blocks and context managers clean up.

    A BaseException, so no `except Exception` on the way can swallow it.
    """


_STOPPED = "partial outputs were removed; earlier outputs are untouched"


def _importing(frame: FrameType | None) -> bool:
    """Whether the main thread is inside an import (importlib's frozen frames are on its stack)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    if _importing(frame):
        # An exception raised while a C extension initialises (onnx, onnxruntime and torch are imported lazily,
        # mid-run) can crash the interpreter (seen: SIGSEGV in onnx's pybind11 module init). Deliver the
        # signal again shortly, once the import is done.
        again = threading.Timer(0.05, os.kill, (os.getpid(), signum))
        again.daemon = True  # never holds up the exit
        again.start()
        return
    # the first signal stops the run; later ones must not cut its cleanup short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def _stopped(how: str, code: int) -> NoReturn:
    error(f"{how}; {_STOPPED}", label="interrupted:" if code == 130 else "terminated:")
    sys.exit(code)


def run() -> None:
    """Console-script entry point: user errors become one line and exit 2; bugs exit 1 with a hint.

    Ctrl-C (SIGINT) exits 130 and SIGTERM 143, each after the command's cleanup ran (temporary files removed,
    a half-built run folder deleted, the previous one kept).
    """

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = _run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    sys.exit(code)


def _run() -> int:
    try:
        code = app(standalone_mode=False, prog_name="edgecnn")  # returns the exit code (130 after Ctrl-C)
    except typer.Exit as exc:
        code = exc.exit_code
    except typer.Abort:
        _stopped("aborted", 130)
    except KeyboardInterrupt:
        _stopped("stopped by Ctrl-C (SIGINT)", 130)
    except Terminated:
        _stopped("stopped by SIGTERM", 143)
    except GateFailedError as exc:
        error(exc, label="gate failed:", soft_wrap=False)
        return 3
    except UserError as exc:
        error(exc)
        return 2
    except EdgeCNNError as exc:
        error(exc)
        return exc.exit_code
    except Exception as exc:  # usage errors (click's, or typer's vendored click) first; anything else is a bug
        if hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int):
            ctx = getattr(exc, "ctx", None)  # one line, like every other user error, with where to look
            hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
            if str(getattr(exc, "option_name", "")).lstrip("-").isdigit():  # `--input-shape 1 1 -32 32`
                hint += f"; a negative number reads as an option: give a shape as one value, {SHAPE_SYNTAX}"
            error(f"{exc.format_message()}{hint}")
            return exc.exit_code
        if os.environ.get("EDGECNN_DEBUG"):
            raise
        error(
            f"{type(exc).__name__}: {exc}\n"
            "This is a bug in edgecnn. Re-run with EDGECNN_DEBUG=1 for the traceback and please report it.",
            label="internal error:",
        )
        return 1
    if code == 130:  # typer's answer to a KeyboardInterrupt, or a command's own (agent serve)
        _stopped("stopped by Ctrl-C (SIGINT)", 130)
    if code == 143:  # a command that handled SIGTERM itself (agent serve)
        _stopped("stopped by SIGTERM", 143)
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


if __name__ == "__main__":  # pragma: no cover
    run()

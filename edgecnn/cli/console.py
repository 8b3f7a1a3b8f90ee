"""Shared rich consoles: results to stdout, logs, progress and errors to stderr."""

from rich.console import Console

console = Console()
err_console = Console(stderr=True)

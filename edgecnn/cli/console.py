"""Shared rich consoles (results to stdout; logs, progress and errors to stderr) and the one escaping helper.

Rich reads `[...]` as markup and silently drops what it does not recognise, so `pip install "edgecnn[tensorrt]"`
would print as `pip install "edgecnn"`. Every message that carries text we did not write ourselves (errors,
warnings, notes, paths, reasons, hints) goes through `escape`, or is printed with `say`/`warn`/`error`.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape as _rich_escape

console = Console()
err_console = Console(stderr=True)


def escape(text: object) -> str:
    """`text` as literal rich text: square brackets survive instead of being read as markup."""
    return _rich_escape(str(text))


def say(
    text: object, *, style: str | None = None, prefix: str = "", to: Console | None = None, soft_wrap: bool = False
) -> None:
    """Print `prefix` (trusted markup, e.g. "[yellow]note:[/] ") then `text` escaped, optionally in one style."""
    body = escape(text)
    if style:
        body = f"[{style}]{body}[/]"
    (to or console).print(f"{prefix}{body}", highlight=False, soft_wrap=soft_wrap)


def error(text: object, *, label: str = "error:", soft_wrap: bool = True) -> None:
    """One error line on stderr: a red label, then the message exactly as written."""
    say(text, prefix=f"[bold red]{label}[/] ", to=err_console, soft_wrap=soft_wrap)

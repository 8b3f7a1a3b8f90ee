"""Progress of long loops, reported through a replaceable reporter so lower layers never import the CLI.

`track(items, label)` is what library code calls. The default reporter draws a transient rich bar on
stderr when stderr is a terminal (silent in logs and CI); the CLI installs one bound to its own console
(`use_console`), and an MLOps pipeline may install any callable with `set_reporter` (or silence it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
Reporter = Callable[[Iterable[Any], str], Iterator[Any]]

_console: Any = None


def _rich_reporter(items: Iterable[T], label: str) -> Iterator[T]:
    from rich.console import Console
    from rich.progress import track as rich_track

    console = _console or Console(stderr=True)
    yield from rich_track(items, description=label, console=console, transient=True, disable=not console.is_terminal)


_reporter: Reporter = _rich_reporter


def track(items: Iterable[T], label: str, *, enabled: bool = True) -> Iterator[T]:
    """Iterate `items`, reporting progress under `label` (plain iteration when `enabled` is False)."""
    if not enabled:
        yield from items
        return
    yield from _reporter(items, label)


def set_reporter(reporter: Reporter | None) -> None:
    """Replace the reporter (None restores the default rich bar)."""
    global _reporter
    _reporter = reporter or _rich_reporter


def use_console(console: Any) -> None:
    """Draw the default bars on this rich Console (the CLI's stderr console, so bars and logs do not clash)."""
    global _console
    _console = console

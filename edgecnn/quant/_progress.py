"""A rich progress bar on stderr for long loops (silent when stderr is not a terminal)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def track(items: Iterable[T], label: str) -> Iterator[T]:
    from rich.progress import track as rich_track

    from edgecnn.cli.console import err_console

    yield from rich_track(
        items, description=label, console=err_console, transient=True, disable=not err_console.is_terminal
    )

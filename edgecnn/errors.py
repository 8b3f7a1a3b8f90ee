"""Typed errors. User errors become one clear line and exit code 2; anything else is a bug (exit 1)."""

from __future__ import annotations


class EdgeCNNError(Exception):
    """Base class of every error edgecnn raises on purpose."""

    exit_code = 1


class UserError(EdgeCNNError):
    """The user asked for something impossible or gave bad input; the message says what to change."""

    exit_code = 2


class UnknownNameError(UserError):
    """An unknown registry name (model, pass, target, backend); the message lists what exists."""


class InvalidInputError(UserError):
    """Bad shapes, bad files, bad config values."""


class MissingDependencyError(UserError):
    """An optional backend is not installed; the message names the pip command that fixes it."""

    def __init__(self, package: str, extra: str | None = None, why: str = "") -> None:
        fix = f'pip install "edgecnn[{extra}]"' if extra else f"pip install {package}"
        super().__init__(f"{package} is not installed{': ' + why if why else ''}; install it with: {fix}")
        self.package = package
        self.extra = extra


class DeviceUnavailableError(UserError):
    """A device (GPU, remote agent) cannot be reached or does not exist here."""


class GateFailedError(EdgeCNNError):
    """A quality gate (accuracy budget, speed-up, size) failed; exit code 3."""

    exit_code = 3


class InternalError(EdgeCNNError):
    """A bug in edgecnn."""

    exit_code = 1


def require(module: str, *, extra: str | None = None, why: str = ""):
    """Import an optional dependency lazily or raise MissingDependencyError naming the fix."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised when the backend is absent
        raise MissingDependencyError(module.split(".")[0], extra, why) from exc


def close_matches(name: str, choices: list[str]) -> str:
    """'did you mean ...' text for unknown-name errors."""
    import difflib

    hits = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" Did you mean: {', '.join(hits)}?" if hits else ""


def first_line(exc: BaseException | str, limit: int = 300) -> str:
    """The first line of an exception's text for a one-line message; a long line is cut at the end of a sentence
    (or else of a word) within `limit` characters, never in the middle of a word."""
    text = str(exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    if not line:
        return type(exc).__name__ if isinstance(exc, BaseException) else ""
    if len(line) <= limit:
        return line
    head = line[:limit]
    end = max(head.rfind(". "), head.rfind("; "), head.rfind(": "))
    if end >= limit // 3:
        return head[: end + 1].rstrip(";:") + ("." if head[end] == "." else " ...")
    return head.rsplit(" ", 1)[0] + " ..."

"""Helpers of the bad-input corpus (this folder's conftest.py belongs to the agent tests): the CLI runner, the check."""

from __future__ import annotations

import sys

from edgecnn.cli.main import run


def cli_run(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """`edgecnn ARGS` in-process through the console-script function: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["edgecnn", *args])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_user_error(code: int, err: str, fragment: str | None = None) -> None:
    """Exit 2, one `error:` line on stderr, no traceback, no 'internal error'."""
    assert "Traceback" not in err and "internal error" not in err, err
    assert code == 2, (code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got {len(lines)}: {err!r}"
    assert lines[0].startswith("error:"), err
    if fragment:
        assert fragment.lower() in " ".join(err.split()).lower(), (fragment, err)

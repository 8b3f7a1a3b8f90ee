"""Atomic writes and hashing: a failed run never leaves a half-written file or destroys an earlier one."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgecnn.errors import InvalidInputError


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to `final`; rename it over `final` only if the block succeeds.

    Works for files and directories. The temporary lives in the same directory so the rename is atomic.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix or final.suffix or ".tmp", dir=final.parent)
    os.close(fd)
    os.unlink(tmp_name)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_dir():
            swap_dir(tmp, final)  # a folder: the old one renamed away, this one in, signals held meanwhile
        else:
            os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


# ---------------------------------------------------------------- output paths, checked before any work


def check_out_file(path: str | os.PathLike, *, suffixes: tuple[str, ...] | None = None, flag: str = "--out") -> Path:
    """Check that a single output file can be written at `path`, before anything is loaded or computed.

    Raises a one-line `InvalidInputError` (exit 2) when `path` is a folder, has the wrong suffix, lies under
    something that is not a folder, or its folder is not writable.
    """
    path = Path(path)
    ending = f" ending in {' or '.join(suffixes)}" if suffixes else ""
    if path.is_dir():
        raise InvalidInputError(f"{flag} {path} is a folder; give a file path{ending}")
    if suffixes and path.suffix.lower() not in suffixes:
        raise InvalidInputError(f"{flag} {path}: give a file path{ending}")
    _check_writable_parent(path, flag)
    return path


def check_out_dir(path: str | os.PathLike, *, flag: str = "--out", marker: str | None = None) -> Path:
    """Check that a run folder can be built at `path` (beside it, then swapped in) before any work starts.

    An existing folder is replaced as a whole on success, so it must be empty or hold an earlier run: `marker`
    (e.g. "report.json") names the file that says so. Raises a one-line `InvalidInputError` otherwise.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{flag} {path} is a file, not a folder; give a folder path")
    cwd = Path.cwd().resolve()
    if path.resolve() == cwd or path.resolve() in cwd.parents:
        raise InvalidInputError(f"{flag} {path} is the current folder or holds it; give a folder of its own")
    _check_writable_parent(path, flag)
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise InvalidInputError(f"{flag} {path}: the folder is not writable")
        if marker and any(path.iterdir()) and not (path / marker).is_file():
            raise InvalidInputError(
                f"{flag} {path} holds files that are not an earlier edgecnn output (no {marker}); it would be "
                "replaced as a whole: give a new or empty folder"
            )
    return path


def _check_writable_parent(path: Path, flag: str) -> None:
    """The nearest existing ancestor of `path` must be a writable folder (files are created beside `path`)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise InvalidInputError(f"{flag} {path}: {parent} is a file, not a folder")
    try:  # os.access answers True for root even on read-only mounts: create a probe file instead
        fd, probe = tempfile.mkstemp(prefix=".edgecnn-probe-", dir=parent)
    except OSError as exc:
        raise InvalidInputError(f"{flag} {path}: cannot write in {parent} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


# ---------------------------------------------------------------- run folders, built beside and swapped in


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM for the few renames that swap a folder in, so they never stop half-way."""
    held = {signal.SIGINT, signal.SIGTERM}
    can = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held) if can else None
    try:
        yield
    finally:
        if can:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def swap_dir(new: str | os.PathLike, final: str | os.PathLike) -> Path:
    """Put folder `new` at `final`: the old `final` (if any) is renamed away, `new` renamed in, the old deleted.

    Both lie in one folder (one filesystem), so each rename is atomic; a failed rename puts the old folder back.
    """
    new, final = Path(new), Path(final)
    with _signals_deferred():
        if not final.exists():
            new.rename(final)
            return final
        old = final.with_name(f".{final.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        try:
            new.rename(final)
        except BaseException:
            old.rename(final)
            raise
        shutil.rmtree(old, ignore_errors=True)
    return final


def partial_dir(final: str | os.PathLike) -> Path:
    """Where a run folder for `final` is built: beside it, named after it and this process."""
    final = Path(final)
    return final.with_name(f"{final.name}.partial-{os.getpid()}")


def failed_dir(final: str | os.PathLike) -> Path:
    """Where `keep_failed` leaves a failed or interrupted run folder for `final`."""
    final = Path(final)
    return final.with_name(f"{final.name}.failed")


@contextlib.contextmanager
def staged_dir(final: str | os.PathLike, *, keep_failed: bool = False) -> Iterator[Path]:
    """Yield an empty folder beside `final` to build a run in; swap it in at `final` only if the block succeeds.

    On any failure or interrupt (KeyboardInterrupt, SIGTERM raised as an exception) the previous `final` stays
    exactly as it was and the partial folder is deleted, or kept as `<final>.failed` with `keep_failed`.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    work = partial_dir(final)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        yield work
    except BaseException:
        if keep_failed:
            failed = failed_dir(final)
            shutil.rmtree(failed, ignore_errors=True)
            work.rename(failed)
        raise
    else:
        swap_dir(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def relocate_paths(data: Any, old: str | os.PathLike, new: str | os.PathLike) -> Any:
    """`data` (dicts, lists, strings) with every path string under folder `old` moved under `new`."""
    prefixes = {str(Path(old)): str(Path(new)), str(Path(old).absolute()): str(Path(new).absolute())}

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, str):
            for src, dst in prefixes.items():
                if value == src or value.startswith(src + os.sep):
                    return dst + value[len(src) :]
        return value

    return move(data)


def folder_bytes(folder: str | os.PathLike) -> bytes:
    """A folder's files as zip bytes: how a run's files travel through Ray's object store to another machine."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(Path(folder).rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(folder).as_posix())
    return buffer.getvalue()


def unpack_folder(data: bytes, folder: str | os.PathLike) -> None:
    """Extract `folder_bytes`'s archive (our own: names are relative and plain) into `folder`."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(folder)

"""Write a multi-file artifact (OpenVINO .xml + .bin, engine + metadata) without ever leaving half of it.

Files are written under their final names in a temporary folder beside the destination and renamed into
place only when everything succeeded; the main file goes last, so a reader never sees a new main file
with an old side file. A failure leaves the earlier artifact untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def staged(main: str | os.PathLike, *side_names: str) -> Iterator[Path]:
    """Yield the staging path for `main`; on success move `main` and the named side files into place."""
    main = Path(main)
    main.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{main.name}.", dir=main.parent) as work:
        stage = Path(work) / main.name
        yield stage
        for name in side_names:
            if (Path(work) / name).exists():
                os.replace(Path(work) / name, main.with_name(name))
        os.replace(stage, main)

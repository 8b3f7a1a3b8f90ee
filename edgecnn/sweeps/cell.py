"""One sweep cell, run where Ray puts it (or in this process): the optimize run in a scratch folder, then its
files shipped back, as zip bytes through Ray's object store or copied to the shared `storage` path, so no node
assumes another's filesystem. Errors become a failed outcome with a one-line reason, never a lost sweep.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from edgecnn.errors import EdgeCNNError, first_line
from edgecnn.fileio import atomic_path, folder_bytes
from edgecnn.pipeline.runner import run_recipe
from edgecnn.sweeps.spec import Cell

RUN_FOLDER = "run"  # the optimize output inside a cell's folder


def run_cell(cell: Cell, storage: str | None = None) -> dict[str, Any]:
    """Run `cell`; the outcome: status "ok" or "failed" (with `reason`), the report, and its files (`files`: zip
    bytes) or where they were stored (`stored_at`). The report's paths name `run_dir`, the worker's scratch run
    folder, gone by now: the driver relocates them to where the files end up."""
    started = time.time()
    scratch = Path(tempfile.mkdtemp(prefix="edgecnn-sweep-"))
    run = scratch / RUN_FOLDER
    outcome: dict[str, Any] = {"status": "ok", "reason": None, "report": None, "files": None, "stored_at": None}
    outcome["run_dir"] = str(run)
    try:
        try:
            result = run_recipe(cell.recipe, out_dir=run)
            outcome["report"] = result.report
        except EdgeCNNError as exc:
            outcome.update(status="failed", reason=first_line(exc))
        except Exception as exc:  # a bug in one cell must not take the other cells down: reported, not raised
            outcome.update(status="failed", reason=f"internal error: {type(exc).__name__}: {first_line(exc)}")
        if outcome["status"] == "ok":
            if storage:
                outcome["stored_at"] = str(_store(run, Path(storage) / "cells" / cell.id / RUN_FOLDER))
            else:
                outcome["files"] = folder_bytes(run)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    outcome.update(pid=os.getpid(), started=started, finished=time.time())
    return outcome


def _store(run: Path, dest: Path) -> Path:
    with atomic_path(dest) as tmp:
        shutil.copytree(run, tmp)
    return dest

"""One search trial: the accuracy screen that stops it before timing, and its build as a Ray task.

`build_trial` is the task body (`edgecnn.distributed.ray_tasks.submit` runs it on whichever node Ray picks): the
trial's recipe runs in a scratch folder there and its files come back as zip bytes through Ray's object store,
as a sweep cell's do, so the driver never assumes the worker shares its filesystem. `store_trial` unpacks them
into the search's `trials/<hash>/` on the driver.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgecnn.errors import UserError, first_line
from edgecnn.fileio import atomic_path, folder_bytes, relocate_paths, unpack_folder
from edgecnn.pipeline.recipe import Recipe
from edgecnn.pipeline.runner import run_recipe

RECIPE_FILE = "recipe.yaml"  # in a trial's folder: what `edgecnn optimize --recipe` reproduces it from


class OverBudget(Exception):
    """Raised by the runner's screen: the trial lost more accuracy than the budget before it was timed."""

    def __init__(self, drop: float) -> None:
        super().__init__(f"accuracy drop {drop:.3g} over budget")
        self.drop = drop


def agreement_drop(fid: dict[str, Any]) -> tuple[float, str | None]:
    """100 x (1 - top-1 agreement with fp32) and its name; 0 and None when agreement is not meaningful."""
    if fid.get("meaningful") and fid.get("top1_agreement") is not None:
        return 100.0 * (1.0 - fid["top1_agreement"]), "100 - top-1 agreement with fp32 (points)"
    return 0.0, None


def accuracy_screen(max_drop: float) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """The runner's `screen`: raises OverBudget when validation shows more than `max_drop` points lost."""

    def screen(fidelity: dict[str, Any], accuracy: dict[str, Any]) -> None:
        base, opt = (accuracy.get("baseline") or {}).get("top1"), (accuracy.get("optimized") or {}).get("top1")
        drop = base - opt if base is not None and opt is not None else agreement_drop(fidelity)[0]
        if drop > max_drop:
            raise OverBudget(drop)

    return screen


def build_trial(recipe: Recipe, yaml_text: str, max_drop: float | None) -> dict[str, Any]:
    """Run in a Ray worker: the trial's outcome, one of {"report", "files", "run_dir"} (built and measured),
    {"screened_drop"} (over the accuracy budget: not timed) or {"error"} (this point cannot be built); each with
    `task`, the worker's pid and the build's start and end."""
    task = {"pid": os.getpid(), "start": time.time()}  # when and where it was built (the timings say where timed)
    scratch = Path(tempfile.mkdtemp(prefix="edgecnn-trial-"))
    run = scratch / "run"
    try:
        screen = accuracy_screen(max_drop) if max_drop is not None else None
        try:
            report = run_recipe(recipe, out_dir=run, screen=screen).report
        except OverBudget as over:
            return {"screened_drop": over.drop, "task": {**task, "end": time.time()}}
        except UserError as exc:
            return {"error": first_line(exc), "task": {**task, "end": time.time()}}
        (run / RECIPE_FILE).write_text(yaml_text)
        task["end"] = time.time()
        return {"report": report, "files": folder_bytes(run), "run_dir": str(run), "task": task}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def store_trial(outcome: dict[str, Any], folder: Path) -> dict[str, Any]:
    """Unpack a built trial's files into `folder` (atomically: a folder with report.json is a finished trial) and
    return its report, its paths moved from the worker's scratch folder to `folder`."""
    report = relocate_paths(outcome["report"], outcome["run_dir"], folder)
    with atomic_path(folder) as tmp:
        unpack_folder(outcome["files"], tmp)
        (tmp / "report.json").write_text(json.dumps(report, indent=2))
    return report

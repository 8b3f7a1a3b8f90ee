"""A sweep's output folder: one folder per finished cell (its result.json and run files, written atomically as the
cell completes, so an interrupted sweep resumes where it stopped), and the leaderboard made from them.

```text
OUT/cells/<cell id>/result.json   status, reason, attempts, where and when each timing ran, the headline numbers
OUT/cells/<cell id>/run/          the cell's optimize output (report.json, models, bundle)
OUT/report.json, report.md, report.html   the leaderboard
```
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from edgecnn import __version__
from edgecnn.errors import InvalidInputError
from edgecnn.fileio import atomic_path, atomic_write_text, check_out_dir, relocate_paths, unpack_folder
from edgecnn.report.leaderboard import to_html, to_markdown
from edgecnn.sweeps.cell import RUN_FOLDER
from edgecnn.sweeps.spec import Cell, Sweep

RESULT = "result.json"
LEADERBOARD_SCHEMA_VERSION = 1


def check_sweep_out(out_dir: str | Path, *, resume: bool) -> Path:
    """A new or empty folder, or (with `resume`) one holding an earlier run of a sweep: checked before any work."""
    out = check_out_dir(out_dir)
    if out.is_dir() and any(out.iterdir()):
        if not (out / "cells").is_dir():
            raise InvalidInputError(
                f"--out {out} holds files that are not a sweep's output: give a new or empty folder"
            )
        if not resume:
            raise InvalidInputError(
                f"--out {out} holds an earlier sweep: --resume continues it (finished cells are kept), "
                "or give a new folder"
            )
    return out


def cell_dir(out: Path, cell: Cell) -> Path:
    return out / "cells" / cell.id


def finished(out: Path, cell: Cell) -> dict[str, Any] | None:
    """The cell's result when it finished ok with this very recipe (a failed or changed cell runs again)."""
    path = cell_dir(out, cell) / RESULT
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    ok = result.get("status") == "ok" and (result.get("cell") or {}).get("digest") == cell.digest
    return result if ok else None


def failed_outcome(reason: str) -> dict[str, Any]:
    """The outcome of a cell that never produced one (its device is unreachable, its task was lost)."""
    now = time.time()
    return {
        "status": "failed",
        "reason": reason,
        "report": None,
        "files": None,
        "stored_at": None,
        "run_dir": None,
        "pid": None,
        "started": now,
        "finished": now,
    }


def write_cell(
    out: Path, cell: Cell, outcome: dict[str, Any], timings: list[dict[str, Any]], attempts: int
) -> dict[str, Any]:
    """Write the cell's folder atomically (result.json and its run files) and return the result."""
    final = cell_dir(out, cell)
    report = outcome.get("report")
    with atomic_path(final) as tmp:
        tmp.mkdir()
        files = None
        if outcome.get("files"):
            unpack_folder(outcome["files"], tmp / RUN_FOLDER)
            files = final / RUN_FOLDER
        elif outcome.get("stored_at"):
            files = Path(outcome["stored_at"])
        if report is not None and files is not None:
            report = relocate_paths(report, outcome["run_dir"], files)
            if (tmp / RUN_FOLDER / "report.json").is_file():  # the copy here names where its files now are
                (tmp / RUN_FOLDER / "report.json").write_text(json.dumps(report, indent=2))
        result = {
            "cell": cell.describe(),
            "status": outcome["status"],
            "reason": outcome.get("reason"),
            "attempts": attempts,
            "pid": outcome.get("pid"),
            "started": outcome.get("started"),
            "finished": outcome.get("finished"),
            "timings": timings,
            "files": str(files) if files else None,
            "summary": summarize(report) if report else None,
        }
        (tmp / RESULT).write_text(json.dumps(result, indent=2))
    return result


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of one optimize report, for the leaderboard."""
    b, o = report.get("baseline") or {}, report.get("optimized") or {}
    accuracy = o.get("accuracy") or {}
    fidelity = report.get("fidelity") or {}
    return {
        "precision": o.get("precision"),
        "baseline_p50_ms": (b.get("latency_ms") or {}).get("p50"),
        "optimized_p50_ms": (o.get("latency_ms") or {}).get("p50"),
        "speedup": report.get("speedup"),
        "accuracy": accuracy.get("top1") if not accuracy.get("reason") else None,
        "agreement": fidelity.get("top1_agreement"),
        "size_ratio": report.get("size_ratio"),
        "gates_passed": all(g.get("passed") is not False for g in report.get("gates", [])),
    }


def row(result: dict[str, Any]) -> dict[str, Any]:
    """A leaderboard row from a cell's result.json."""
    timings = result.get("timings") or []
    return {
        **result["cell"],
        "status": result["status"],
        "reason": result.get("reason"),
        "attempts": result.get("attempts"),
        **(result.get("summary") or {}),
        "measured_on": ", ".join(sorted({t["resource"] for t in timings})) or None,
        "timings": timings,
        "files": result.get("files"),
    }


def write_leaderboard(out: Path, sweep: Sweep) -> tuple[dict[str, Any], dict[str, Path]]:
    """report.json (the leaderboard: one row per cell of the sweep, in file order), report.md and report.html."""
    import datetime as _dt

    rows = []
    for cell in sweep.cells:
        try:
            rows.append(row(json.loads((cell_dir(out, cell) / RESULT).read_text())))
        except (OSError, ValueError):
            rows.append(
                {
                    **cell.describe(),
                    "status": "failed",
                    "reason": "not run (the sweep was interrupted)",
                    "attempts": 0,
                    "measured_on": None,
                    "timings": [],
                    "files": None,
                }
            )
    board = {
        "schema_version": LEADERBOARD_SCHEMA_VERSION,
        "kind": "sweep",
        "name": sweep.name,
        "edgecnn_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "rows": rows,
    }
    paths = {
        "json": atomic_write_text(out / "report.json", json.dumps(board, indent=2)),
        "md": atomic_write_text(out / "report.md", to_markdown(board)),
        "html": atomic_write_text(out / "report.html", to_html(board)),
    }
    return board, paths

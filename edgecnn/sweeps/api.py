"""`edgecnn.sweep(...)`: run a sweep file's cells (each one `optimize` run) as Ray tasks, or one after another
without Ray, and gather them into one leaderboard.

With Ray, every cell is a task (`edgecnn.distributed.ray_tasks.submit`): builds run in parallel, each timing
holds its host's `timing:<node>` (or its agent's `device:<name>`) resource, a task whose worker dies is retried
once, and the driver writes each cell's result as it arrives. Without Ray the same cells run here in turn, with
the same results format.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from edgecnn.distributed.holds import recording
from edgecnn.distributed.ray_tasks import (
    PARALLEL_HINT,
    cluster,
    host_name,
    new_ledger,
    ray_installed,
    submit,
)
from edgecnn.errors import first_line
from edgecnn.sweeps.cell import run_cell
from edgecnn.sweeps.results import check_sweep_out, failed_outcome, finished, write_cell, write_leaderboard
from edgecnn.sweeps.spec import Cell, Sweep, load_sweep

log = logging.getLogger("edgecnn.sweep")

LEDGER_PREFIX = "edgecnn-sweep-"  # the attempts ledger's actor name: this prefix and a random id
PROBE_TIMEOUT_S = 3.0

Done = Callable[[Cell, dict[str, Any], list[dict[str, Any]], int], None]


@dataclass
class SweepResult:
    """What `edgecnn.sweep` returns: the leaderboard (also report.json) and where it was written."""

    out_dir: Path
    leaderboard: dict[str, Any]
    report_paths: dict[str, Path] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)  # ids of the cells run now (not kept from an earlier run)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.leaderboard["rows"]

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] != "ok"]


def sweep(
    sweep_file: str | Path | Sweep,
    *,
    address: str | None = None,
    out_dir: str | Path = "edgecnn-sweep",
    resume: bool = False,
    storage: str | Path | None = None,
    sequential: bool = False,
) -> SweepResult:
    """Run every cell of `sweep_file` (a path, or a `Sweep` from `edgecnn.sweeps.spec.load_sweep`).

    address: None starts Ray in this process on this machine's cores; "auto" or "ray://HOST:10001" joins a
    cluster. Without Ray installed (or with `sequential`), the cells run one after another here.
    resume: keep the cells an earlier run of this sweep in `out_dir` finished, run the rest.
    storage: a folder every node can write (a shared mount): cells leave their files there instead of
    shipping them through Ray's object store to `out_dir`.
    A failed cell (an unreachable device, a bad model) is marked in the leaderboard; it does not stop the others.
    """
    sw = sweep_file if isinstance(sweep_file, Sweep) else load_sweep(sweep_file)
    out = check_sweep_out(out_dir, resume=resume)
    store = str(Path(storage).absolute()) if storage else None
    kept = {c.id for c in sw.cells if resume and finished(out, c)}
    todo = [c for c in sw.cells if c.id not in kept]
    if kept:
        log.info("resuming: %d of %d cells finished earlier, %d to run", len(kept), len(sw.cells), len(todo))
    count = {"done": len(kept)}

    def done(cell: Cell, outcome: dict[str, Any], timings: list[dict[str, Any]], attempts: int) -> None:
        result = write_cell(out, cell, outcome, timings, attempts)
        count["done"] += 1
        where = ", ".join(sorted({t["node"] for t in timings})) or "-"
        what = "ok" if result["status"] == "ok" else f"FAILED: {result['reason']}"
        log.info("[%d/%d] %s: %s (timed on %s)", count["done"], len(sw.cells), cell.id, what, where)

    unreachable = _unreachable({c.device for c in todo if c.device}, sw.devices)
    for cell in [c for c in todo if c.device in unreachable]:
        done(cell, failed_outcome(unreachable[cell.device]), [], 0)
    runnable = [c for c in todo if c.device not in unreachable]
    if runnable:
        if sequential or (address is None and not ray_installed()):
            if not sequential:
                log.warning(
                    "ray is not installed: running %d cells one after another; %s", len(runnable), PARALLEL_HINT
                )
            _run_here(runnable, sw, store, done)
        else:
            _run_on_ray(runnable, sw, store, address, done)
    board, paths = write_leaderboard(out, sw)
    return SweepResult(out_dir=out, leaderboard=board, report_paths=paths, ran=[c.id for c in todo])


def _run_here(cells: list[Cell], sw: Sweep, storage: str | None, done: Done) -> None:
    for cell in cells:
        with recording(host_name(), sw.devices) as records:
            outcome = run_cell(cell, storage)
        done(cell, outcome, [r.to_dict() for r in records], 1)


def _run_on_ray(cells: list[Cell], sw: Sweep, storage: str | None, address: str | None, done: Done) -> None:
    with cluster(address, devices=sw.device_names) as ray:
        ledger = new_ledger(LEDGER_PREFIX + uuid.uuid4().hex[:8])
        refs = {submit(run_cell, c, storage, devices=sw.devices, ledger=ledger, key=c.id): c for c in cells}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    cell = refs[ref]
                    try:
                        outcome, timings = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # the worker died on every attempt, or the task failed
                        outcome, timings = failed_outcome(f"the task was lost: {first_line(exc)}"), []
                    done(cell, outcome, timings, len(ray.get(ledger.get.remote(cell.id))))
        finally:
            for ref in pending:  # interrupted: a cluster we joined must not keep running our cells
                ray.cancel(ref, force=True)


def _unreachable(names: set[str], devices: dict[str, str]) -> dict[str, str]:
    """Device agents that do not accept a connection, with the reason their cells fail."""
    bad = {}
    for name in sorted(names):
        url = urlparse(devices[name])
        try:
            socket.create_connection((url.hostname, url.port), timeout=PROBE_TIMEOUT_S).close()
        except OSError as exc:
            bad[name] = f"device {name} ({devices[name]}) is unreachable: {exc.strerror or exc}"
    return bad

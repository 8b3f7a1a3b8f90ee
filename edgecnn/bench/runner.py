"""`run_suite`: build each case's model, load the sessions, time them all interleaved, evaluate the gates."""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.bench.anchor import ANCHOR_ID, DESCRIPTION, anchor_session
from edgecnn.bench.artifacts import ArtifactBuilder, BuiltModel, input_arrays
from edgecnn.bench.gates import evaluate_gates
from edgecnn.bench.interleave import BoundSession, time_in_rounds
from edgecnn.bench.results import SCHEMA, SCHEMA_VERSION
from edgecnn.bench.stats import metric_value
from edgecnn.bench.suite import TARGETS, Case, Suite, load_suite
from edgecnn.evaluation.digits import Split, top1
from edgecnn.fileio import sha256_file
from edgecnn.profiling.environment import fingerprint
from edgecnn.profiling.stats import LatencyStats
from edgecnn.progress import track
from edgecnn.runtime import load_session

log = logging.getLogger("edgecnn.bench")

SessionWrapper = Callable[[Case, Any], Any]


def run_suite(
    suite: Suite | str | Path,
    *,
    work_dir: str | Path | None = None,
    rounds: int | None = None,
    wrap_session: SessionWrapper | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run every case of `suite` and return the results dict (see `edgecnn.bench.results`).

    work_dir: where zoo models are exported (a temporary folder by default). rounds: override the suite's
    protocol rounds (time per round kept). wrap_session(case, session) -> session lets a caller put a
    layer around a case's session (the self-test injects a calibrated slowdown this way).
    """
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    if rounds is not None:
        suite = suite.with_rounds(rounds)
    with tempfile.TemporaryDirectory(prefix="edgecnn-bench-") as tmp, contextlib.ExitStack() as opened:
        builder = ArtifactBuilder(Path(work_dir) if work_dir else Path(tmp), seed=suite.seed)
        built = {case.id: builder.build(case) for case in track(suite.cases, "building models", enabled=progress)}
        sessions = {case.id: _session(case, built[case.id], suite.seed, wrap_session, opened) for case in suite.cases}
        accuracy = {case.id: _accuracy(sessions[case.id].session, built[case.id]) for case in suite.cases}
        anchor, anchor_x = anchor_session(Path(tmp))
        sessions[ANCHOR_ID] = BoundSession(opened.enter_context(anchor), anchor_x)
        log.info(
            "timing %d case(s) and the reference workload in %d interleaved rounds",
            len(suite.cases),
            suite.protocol.rounds,
        )
        timings = time_in_rounds(sessions, suite.protocol, track=lambda r: track(r, "timing rounds", enabled=progress))
        cases = [
            _case_result(case, built[case.id], sessions[case.id], timings[case.id], accuracy[case.id])
            for case in suite.cases
        ]
    return _results(suite, cases, timings[ANCHOR_ID])


def _session(
    case: Case, built: BuiltModel, seed: int, wrap: SessionWrapper | None, opened: contextlib.ExitStack
) -> BoundSession:
    """The case's session, closed when `opened` closes (a wrapper around it need not know how)."""

    backend, device = TARGETS[case.target]
    session = opened.enter_context(load_session(built.artifact, backend=backend, threads=case.threads, device=device))
    if wrap is not None:
        session = wrap(case, session)
    return BoundSession(session, input_arrays(built.artifact, batch=case.batch, seed=seed))


def _accuracy(session: Any, built: BuiltModel) -> dict[str, Any] | None:
    if built.eval_x is None:
        return None

    return {
        "top1": top1(lambda x: session.run(x)[0], Split(built.eval_x, built.eval_y)),
        "dataset": "digits (held-out split)",
        "samples": int(len(built.eval_y)),
    }


def _case_result(
    case: Case, built: BuiltModel, session: BoundSession, rounds: list[list[float]], accuracy: dict[str, Any] | None
) -> dict[str, Any]:

    stats = LatencyStats([t for r in rounds for t in r], batch=case.batch, threads=case.threads)
    art = built.artifact
    describe = getattr(session.session, "describe", None)
    return {
        "id": case.id,
        "config": case.to_dict(),
        "artifact": {
            "path": str(art.path),
            "format": art.format,
            "precision": art.precision,
            "sha256": art.sha256(),
            "bytes": art.bytes,
        },
        "session": describe() if callable(describe) else {"backend": case.target},
        "latency_ms": stats.summary(),
        "iterations": len(stats.times_ms),
        "throughput": stats.throughput,
        "rounds_ms": [[round(t, 5) for t in r] for r in rounds],
        "accuracy": accuracy,
    }


def _results(suite: Suite, cases: list[dict[str, Any]], reference_rounds: list[list[float]]) -> dict[str, Any]:
    import edgecnn

    threads = sorted({c.threads for c in suite.cases if c.threads}) or None
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "edgecnn_version": edgecnn.__version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "suite": {
            "name": suite.name,
            "path": str(suite.path) if suite.path else None,
            "sha256": sha256_file(suite.path) if suite.path else None,
            "definition": suite.source,
        },
        "protocol": suite.protocol.to_dict(),
        "metric": suite.metric,
        "seed": suite.seed,
        "environment": fingerprint(threads=threads[0] if threads and len(threads) == 1 else None),
        "cases": cases,
        "reference": {
            "id": ANCHOR_ID,
            "description": DESCRIPTION,
            "rounds_ms": [[round(t, 5) for t in r] for r in reference_rounds],
        },
        "gates": evaluate_gates(suite.gates, cases, metric=suite.metric, seed=suite.seed),
    }


def summary_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per case: id, metric value, p50, p90, iterations, accuracy (for the CLI table and Markdown)."""

    rows = []
    for case in results["cases"]:
        times = np.concatenate([np.asarray(r, dtype=np.float64) for r in case["rounds_ms"]])
        rows.append(
            {
                "id": case["id"],
                "metric": metric_value(times, results["metric"]),
                "p50": case["latency_ms"]["p50"],
                "p90": case["latency_ms"]["p90"],
                "iterations": case["iterations"],
                "top1": (case.get("accuracy") or {}).get("top1"),
                "mb": case["artifact"]["bytes"] / 1e6,
            }
        )
    return rows

"""`ab_compare`: two model files compared in one process: a `profiling.compare.Comparison` (interleaved rounds
A B, B A, ..., the fairest comparison on a noisy machine: whatever slows round k slows both, and the paired
bootstrap cancels it), judged with the bench's regression rule."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from edgecnn.artifact import Artifact
from edgecnn.bench.artifacts import input_arrays
from edgecnn.bench.interleave import BoundSession
from edgecnn.bench.stats import DEFAULT_METRIC, check_metric, decide
from edgecnn.bench.suite import TARGETS
from edgecnn.errors import InvalidInputError
from edgecnn.profiling.compare import compare_sessions
from edgecnn.profiling.environment import fingerprint
from edgecnn.profiling.timing import BENCH_PROTOCOL, TimingProtocol
from edgecnn.runtime import load_session


def ab_compare(
    a: str | Path,
    b: str | Path,
    *,
    target: str = "onnxruntime",
    threads: int | None = 1,
    batch: int = 1,
    protocol: TimingProtocol = BENCH_PROTOCOL,
    metric: str = DEFAULT_METRIC,
    max_regression: float = 0.10,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Time A and B interleaved; `ratio` = B / A of `metric` with a paired bootstrap interval over rounds.

    The verdict treats A as the baseline: "regression" when B is slower than A by more than max_regression
    with the whole interval beyond it, "pass" when the interval stays below, else "inconclusive".
    """

    check_metric(metric)
    if target not in TARGETS:
        raise InvalidInputError(f"unknown target '{target}'; choose one of {', '.join(TARGETS)}")
    if Path(a).resolve() == Path(b).resolve():
        raise InvalidInputError("A and B are the same file; give two model files")
    backend, device = TARGETS[target]
    arts = {"A": Artifact.from_path(a), "B": Artifact.from_path(b)}
    inputs = {k: input_arrays(art, batch=batch, seed=seed) for k, art in arts.items()}
    if [v.shape for v in inputs["A"].values()] != [v.shape for v in inputs["B"].values()]:
        raise InvalidInputError(
            f"A and B take different inputs ({_shapes(inputs['A'])} vs {_shapes(inputs['B'])}); "
            "they are not the same model"
        )
    with contextlib.ExitStack() as stack:
        sessions = {
            k: BoundSession(
                stack.enter_context(load_session(art, backend=backend, threads=threads, device=device)), inputs[k]
            )
            for k, art in arts.items()
        }
        cmp = compare_sessions(
            sessions["A"],
            sessions["B"],
            None,
            protocol=protocol,
            names=("A", "B"),
            metric=metric,
            confidence=confidence,
            seed=seed,
            batch=batch,
        )
    est = cmp.estimate
    decision = decide(est, max_regression=max_regression)
    return {
        "schema": "edgecnn.bench.ab",
        "schema_version": 1,
        "metric": metric,
        "max_regression": max_regression,
        "a": {**_describe(arts["A"]), "value_ms": est.baseline_value},
        "b": {**_describe(arts["B"]), "value_ms": est.current_value},
        "latency": est.to_dict(),
        "verdict": decision.verdict,
        "reason": decision.reason,
        "suggestion": decision.suggestion,
        "target": target,
        "threads": threads,
        "batch": batch,
        "protocol": protocol.to_dict(),
        "rounds_ms": cmp.rounds_ms,
        "environment": fingerprint(threads=threads),
    }


def _describe(art: Any) -> dict[str, Any]:
    return {"path": str(art.path), "precision": art.precision, "sha256": art.sha256(), "bytes": art.bytes}


def _shapes(arrays: dict[str, Any]) -> str:
    return ", ".join(f"{k} {list(v.shape)}" for k, v in arrays.items())

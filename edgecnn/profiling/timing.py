"""The one timing protocol: warm-up, then timed iterations until a minimum count AND duration are reached.

`compare_interleaved` runs several sessions in alternating rounds (A B A B ...) so machine drift hits
all of them alike; its results are meant to be read as ratios.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecnn.profiling.stats import LatencyStats


@dataclass(frozen=True)
class TimingProtocol:
    warmup: int = 10
    min_iters: int = 50
    min_seconds: float = 1.0
    max_iters: int = 100_000
    rounds: int = 5  # interleaved comparisons: rounds per session
    pause_s: float = 0.05  # between blocks of different runtimes: their spinning worker threads slow each other
    warmup_seconds: float = 0.0  # keep warming up until this long has passed too (lets clocks and caches settle)

    def __post_init__(self) -> None:
        from edgecnn.errors import InvalidInputError

        if self.warmup < 0 or self.min_iters < 1 or self.max_iters < self.min_iters or self.rounds < 1:
            raise InvalidInputError(
                f"invalid timing protocol {self}: need warmup >= 0, 1 <= min_iters <= max_iters, rounds >= 1"
            )
        if self.min_seconds < 0 or self.pause_s < 0 or self.warmup_seconds < 0:
            raise InvalidInputError(f"invalid timing protocol {self}: durations must not be negative")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimingProtocol:
        from edgecnn.errors import InvalidInputError

        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidInputError(
                f"unknown timing protocol fields: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
            )
        return cls(**data)


def _warm_up(run: Callable[[], Any], protocol: TimingProtocol) -> None:
    start = time.perf_counter()
    n = 0
    while n < protocol.warmup or time.perf_counter() - start < protocol.warmup_seconds:
        run()
        n += 1


def _runner(session: Any, inputs: Any) -> Callable[[], Any]:
    return lambda: session.run(inputs)


def measure(
    session: Any, inputs: Any, protocol: TimingProtocol = TimingProtocol(), *, batch: int | None = None
) -> LatencyStats:
    """Time `session.run(inputs)` under `protocol`; returns per-iteration times in milliseconds."""
    run = _runner(session, inputs)
    _warm_up(run, protocol)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < protocol.max_iters and (
        len(times) < protocol.min_iters or time.perf_counter() - start < protocol.min_seconds
    ):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    return LatencyStats(
        times,
        batch=batch or _batch_of(inputs),
        warmup=protocol.warmup,
        threads=getattr(getattr(session, "options", None), "threads", None),
    )


def compare_interleaved(
    sessions: dict[str, Any], inputs: Any, protocol: TimingProtocol = TimingProtocol(), *, batch: int | None = None
) -> dict[str, LatencyStats]:
    """Time several sessions on the same inputs in interleaved rounds; each gets min_iters/min_seconds in total."""
    per_round_iters = max(1, protocol.min_iters // protocol.rounds)
    per_round_s = protocol.min_seconds / protocol.rounds
    runs = {name: _runner(s, inputs) for name, s in sessions.items()}
    for run in runs.values():
        _warm_up(run, protocol)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(protocol.rounds):
        for name, run in runs.items():
            time.sleep(protocol.pause_s)
            run()  # one untimed call after the pause re-warms caches and thread pools
            start = time.perf_counter()
            n = 0
            while n < per_round_iters or time.perf_counter() - start < per_round_s:
                t0 = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - t0) * 1e3)
                n += 1
    b = batch or _batch_of(inputs)
    return {
        name: LatencyStats(
            t,
            batch=b,
            warmup=protocol.warmup,
            threads=getattr(getattr(sessions[name], "options", None), "threads", None),
        )
        for name, t in times.items()
    }


def _batch_of(inputs: Any) -> int:
    first = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs
    return int(np.shape(first)[0]) if np.ndim(first) else 1

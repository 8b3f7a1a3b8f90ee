"""The one timing protocol: warm-up, then timed iterations until a minimum count AND duration are reached.

`TimingProtocol()`'s defaults are the single source of timing settings, and the presets live here too:
`QUICK_PROTOCOL`, the one shorter one, for the quick "is it faster?" checks a pass or quantize() may make (the
profile stage of a pipeline uses the full protocol), and `BENCH_PROTOCOL`, the one longer one, for latency
gating in CI (`edgecnn bench`: a suite's `protocol:` overrides its fields). `time_rounds` is the one way
several sessions are timed against each other: in interleaved rounds (A B, B A, ...) so machine drift hits
all of them alike, keeping each round's times apart so ratio statistics can resample rounds
(`edgecnn.profiling.compare.Comparison`).

Every timing runs inside `exclusive(device)`: nothing by default, while parallel runs (a sweep on Ray) install
a hold with `set_hold` so two timings never share a host or a device (`edgecnn.distributed`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecnn.errors import InvalidInputError
from edgecnn.profiling.stats import LatencyStats


class ProtocolError(InvalidInputError, ValueError):
    """An impossible protocol; a ValueError too, so pydantic reports it at the field of the file that set it."""


@dataclass(frozen=True)
class TimingProtocol:
    # validated as a field of a bench suite (bench/suite.py); a plain dict (pydantic's ConfigDict is a TypedDict)
    # keeps this module importable on the torch-free device agent, which has no pydantic
    __pydantic_config__ = {"extra": "forbid"}

    warmup: int = 10
    min_iters: int = 50
    min_seconds: float = 1.0
    max_iters: int = 100_000
    rounds: int = 5  # interleaved comparisons: rounds per session
    pause_s: float = 0.05  # between blocks of different runtimes: their spinning worker threads slow each other
    warmup_seconds: float = 0.0  # keep warming up until this long has passed too (lets clocks and caches settle)

    def __post_init__(self) -> None:

        if self.warmup < 0 or self.min_iters < 1 or self.max_iters < self.min_iters or self.rounds < 1:
            raise ProtocolError(
                f"invalid timing protocol {self}: need warmup >= 0, 1 <= min_iters <= max_iters, rounds >= 1"
            )
        if self.min_seconds < 0 or self.pause_s < 0 or self.warmup_seconds < 0:
            raise ProtocolError(f"invalid timing protocol {self}: durations must not be negative")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def with_rounds(self, rounds: int, *, seconds: float | None = None) -> TimingProtocol:
        """The same protocol in `rounds` rounds, each as long as before (or `seconds` of timing in all)."""
        per_round_iters = max(1, self.min_iters // self.rounds)
        return dataclasses.replace(
            self,
            rounds=rounds,
            min_seconds=self.min_seconds / self.rounds * rounds if seconds is None else seconds,
            min_iters=per_round_iters * rounds,
            max_iters=max(self.max_iters, per_round_iters * rounds),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TimingProtocol:

        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidInputError(
                f"unknown timing protocol fields: {', '.join(sorted(unknown))} (known: {', '.join(sorted(known))})"
            )
        return cls(**data)


DEFAULT_PROTOCOL = TimingProtocol()
# the one short preset: a quick check inside a pass or quantize(), several of which may run per call
QUICK_PROTOCOL = TimingProtocol(warmup=5, min_iters=20, min_seconds=1.0, rounds=4)
# CI latency gating (edgecnn bench): 12 interleaved rounds, ~3 s of timed work per case, short pauses
BENCH_PROTOCOL = TimingProtocol(warmup=20, min_iters=240, min_seconds=3.0, rounds=12, pause_s=0.01)


Hold = Callable[[str], contextlib.AbstractContextManager[Any]]
_hold: Hold | None = None
_holding = threading.local()


def set_hold(hold: Hold | None) -> Hold | None:
    """Install how a timing holds its hardware exclusively (`hold(device)` is a context manager); returns the
    previous hold, so a caller can restore it. None: timings hold nothing (one process, one run at a time)."""
    global _hold
    previous, _hold = _hold, hold
    return previous


@contextlib.contextmanager
def exclusive(device: str = "cpu") -> Iterator[None]:
    """Hold the hardware `device` names ("cpu", "cuda:0", "tcp://host:port") while the block times it.

    Nested calls (a profile's comparison, then its roofline) take the hold once, at the outermost.
    """
    depth = getattr(_holding, "depth", 0)
    _holding.depth = depth + 1
    try:
        if depth or _hold is None:
            yield
        else:
            with _hold(device):
                yield
    finally:
        _holding.depth = depth


def _device_of(session: Any) -> str:
    return str(getattr(session, "device", None) or "cpu")  # a torch session's is a torch.device


def _warm_up(run: Callable[[], Any], protocol: TimingProtocol) -> None:
    start = time.perf_counter()
    n = 0
    while n < protocol.warmup or time.perf_counter() - start < protocol.warmup_seconds:
        run()
        n += 1


def _runner(session: Any, inputs: Any) -> Callable[[], Any]:
    return lambda: session.run(inputs)


def measure(
    session: Any, inputs: Any, protocol: TimingProtocol = DEFAULT_PROTOCOL, *, batch: int | None = None
) -> LatencyStats:
    """Time `session.run(inputs)` under `protocol`; returns per-iteration times in milliseconds."""
    run = _runner(session, inputs)
    times: list[float] = []
    with exclusive(_device_of(session)):
        _warm_up(run, protocol)
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


def time_rounds(
    sessions: dict[str, Any],
    inputs: Any,
    protocol: TimingProtocol = DEFAULT_PROTOCOL,
    *,
    track: Callable[[Iterable[int]], Iterable[int]] | None = None,
) -> dict[str, list[list[float]]]:
    """Per-round iteration times (ms) of several sessions timed in interleaved rounds on the same inputs.

    Every session is warmed up once; then in each round each session in turn gets a pause (the previous
    runtime's spinning threads settle), one untimed call and a timed block of min_iters/rounds iterations
    and min_seconds/rounds seconds. The order alternates between rounds (A B, B A, ...) so no session
    always runs first after the pause. `track` wraps the round iterator (a progress bar).
    """
    per_round_iters = max(1, protocol.min_iters // protocol.rounds)
    per_round_s = protocol.min_seconds / protocol.rounds
    runs = {name: _runner(s, inputs) for name, s in sessions.items()}
    names = list(runs)
    rounds: dict[str, list[list[float]]] = {name: [] for name in names}
    first = next(iter(sessions.values()), None)
    with exclusive(_device_of(first)):
        for run in runs.values():
            _warm_up(run, protocol)
        for r in (track or (lambda it: it))(range(protocol.rounds)):
            for name in names if r % 2 == 0 else names[::-1]:
                run = runs[name]
                time.sleep(protocol.pause_s)
                run()  # one untimed call after the pause re-warms caches and thread pools
                times: list[float] = []
                start = time.perf_counter()
                while len(times) < per_round_iters or time.perf_counter() - start < per_round_s:
                    t0 = time.perf_counter()
                    run()
                    times.append((time.perf_counter() - t0) * 1e3)
                rounds[name].append(times)
    return rounds


def compare_interleaved(
    sessions: dict[str, Any], inputs: Any, protocol: TimingProtocol = DEFAULT_PROTOCOL, *, batch: int | None = None
) -> dict[str, LatencyStats]:
    """`time_rounds` pooled into one LatencyStats per session (read them as ratios: see `profiling.compare`)."""
    rounds = time_rounds(sessions, inputs, protocol)
    b = batch or _batch_of(inputs)
    return {name: pooled_stats(r, sessions[name], protocol, batch=b) for name, r in rounds.items()}


def pooled_stats(rounds: list[list[float]], session: Any, protocol: TimingProtocol, *, batch: int) -> LatencyStats:
    return LatencyStats(
        [t for r in rounds for t in r],
        batch=batch,
        warmup=protocol.warmup,
        threads=getattr(getattr(session, "options", None), "threads", None),
    )


def _batch_of(inputs: Any) -> int:
    first = next(iter(inputs.values())) if isinstance(inputs, dict) else inputs
    return int(np.shape(first)[0]) if np.ndim(first) else 1

"""Time every case of a suite in interleaved rounds with the shared protocol, keeping round boundaries.

`compare_interleaved` is called once per round (rounds=1) so that each round's iterations stay together:
the statistics resample rounds, not iterations. The order alternates (A B C, C B A, ...) so no case
always runs first after the pause.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from edgecnn.profiling.timing import TimingProtocol, compare_interleaved


class BoundSession:
    """A session with its own inputs, so sessions with different input shapes can share one timing call."""

    def __init__(self, session: Any, inputs: np.ndarray | dict[str, np.ndarray]) -> None:
        self.session = session
        self.inputs = inputs
        self.options = getattr(session, "options", None)  # the timing code reads threads from here

    def run(self, _shared_inputs: Any = None) -> list[np.ndarray]:
        return self.session.run(self.inputs)


def time_in_rounds(
    sessions: dict[str, BoundSession],
    protocol: TimingProtocol,
    *,
    track: Callable[[Iterable[int]], Iterable[int]] = lambda r: r,
) -> dict[str, list[list[float]]]:
    """Per-round iteration times (ms) for each session; each gets min_iters/min_seconds in total over the rounds."""
    per_round = dataclasses.replace(
        protocol,
        rounds=1,
        min_iters=max(1, protocol.min_iters // protocol.rounds),
        min_seconds=protocol.min_seconds / protocol.rounds,
    )
    later = dataclasses.replace(per_round, warmup=min(2, protocol.warmup), warmup_seconds=0.0)
    names = list(sessions)
    rounds: dict[str, list[list[float]]] = {name: [] for name in names}
    for r in track(range(protocol.rounds)):
        order = names if r % 2 == 0 else names[::-1]
        stats = compare_interleaved({n: sessions[n] for n in order}, None, per_round if r == 0 else later, batch=1)
        for name in names:
            rounds[name].append(list(stats[name].times_ms))
    return rounds

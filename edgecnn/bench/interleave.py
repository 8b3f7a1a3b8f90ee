"""Time every case of a suite in interleaved rounds with the shared protocol, keeping round boundaries.

The rounds come from `edgecnn.profiling.timing.time_rounds`, the one interleaving protocol (order
alternating A B C, C B A, ...): the statistics resample rounds, not iterations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from edgecnn.profiling.timing import TimingProtocol, time_rounds


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
    return time_rounds(sessions, None, protocol, track=track)

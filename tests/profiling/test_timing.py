from __future__ import annotations

import time

import numpy as np
import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.profiling.api import _interleave_rounds
from edgecnn.profiling.stats import LatencyStats
from edgecnn.profiling.timing import TimingProtocol, compare_interleaved, measure, time_rounds


class FakeSession:
    def __init__(self, name: str, log: list[str], sleep_s: float = 0.0) -> None:
        self.name, self.log, self.sleep_s = name, log, sleep_s

    def run(self, inputs):
        self.log.append(self.name)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return [inputs]


@pytest.mark.parametrize(
    "bad", [dict(min_iters=0), dict(max_iters=1, min_iters=5), dict(rounds=0), dict(warmup=-1), dict(min_seconds=-1.0)]
)
def test_invalid_protocols_are_user_errors(bad):
    with pytest.raises(InvalidInputError, match="invalid timing protocol"):
        TimingProtocol(**bad)


def test_protocol_round_trips_and_rejects_unknown_fields():
    p = TimingProtocol(warmup=2, min_iters=7)
    assert TimingProtocol.from_dict(p.to_dict()) == p
    with pytest.raises(InvalidInputError, match="unknown timing protocol fields: iters"):
        TimingProtocol.from_dict({"iters": 3})


def test_measure_honours_warmup_count_seconds_and_minimums():
    log: list[str] = []
    st = measure(FakeSession("a", log), np.zeros((3, 2)), TimingProtocol(warmup=4, min_iters=9, min_seconds=0.0))
    assert len(st.times_ms) == 9 and len(log) == 13 and st.batch == 3 and st.warmup == 4
    log.clear()
    st = measure(
        FakeSession("a", log, sleep_s=0.002),
        np.zeros(1),
        TimingProtocol(warmup=0, warmup_seconds=0.05, min_iters=1, min_seconds=0.05),
    )
    warm = len(log) - len(st.times_ms)
    assert warm >= 5 and sum(st.times_ms) >= 45  # both phases ran for their minimum duration


def test_compare_interleaved_alternates_sessions_and_their_order_in_rounds():
    log: list[str] = []
    p = TimingProtocol(warmup=1, min_iters=6, min_seconds=0.0, rounds=3, pause_s=0.0)
    out = compare_interleaved({"a": FakeSession("a", log), "b": FakeSession("b", log)}, np.zeros(1), p)
    assert len(out["a"].times_ms) == len(out["b"].times_ms) == 6
    timed = log[2:]  # after one warm-up call each
    blocks = [timed[i : i + 3] for i in range(0, len(timed), 3)]  # one untimed + 2 timed calls per block
    assert [b[0] for b in blocks] == ["a", "b", "b", "a", "a", "b"] and all(len(set(b)) == 1 for b in blocks)


def test_time_rounds_keeps_round_boundaries():
    log: list[str] = []
    p = TimingProtocol(warmup=0, min_iters=8, min_seconds=0.0, rounds=4, pause_s=0.0)
    rounds = time_rounds({"a": FakeSession("a", log), "b": FakeSession("b", log)}, np.zeros(1), p)
    assert [len(r) for r in rounds["a"]] == [len(r) for r in rounds["b"]] == [2, 2, 2, 2]


def test_interleave_rounds_merges_whole_protocol_timers():
    calls: list[tuple[str, int]] = []

    def timer(name):
        def run(p: TimingProtocol) -> LatencyStats:
            calls.append((name, p.min_iters))
            return LatencyStats([1.0] * p.min_iters, h2d_ms=[0.5] * p.min_iters)

        return run

    out = _interleave_rounds({"base": timer("base"), "opt": timer("opt")}, TimingProtocol(min_iters=12, rounds=4))
    assert [c[0] for c in calls] == ["base", "opt", "opt", "base"] * 2 and all(c[1] == 3 for c in calls)
    assert len(out["opt"].times_ms) == 12 and len(out["opt"].h2d_ms) == 12

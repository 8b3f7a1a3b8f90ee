"""Comparison: A vs B with the one timing protocol, ratio B/A with a paired interval over rounds."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from edgecnn.profiling.compare import Comparison, compare, compare_sessions
from edgecnn.profiling.timing import QUICK_PROTOCOL, TimingProtocol


class Sleeper:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, inputs):
        time.sleep(self.seconds)
        return [inputs]


FAST = TimingProtocol(warmup=1, min_iters=12, min_seconds=0.0, rounds=4, pause_s=0.0)


def test_a_clearly_slower_candidate_is_slower():
    cmp = compare_sessions(Sleeper(0.001), Sleeper(0.004), np.zeros((2, 3)), protocol=FAST, names=("ref", "cand"))
    assert cmp.ratio > 2 and cmp.ci_low > 1.5 and not cmp.faster and cmp.verdict() == "slower"
    assert cmp.speedup == pytest.approx(1 / cmp.ratio)
    assert cmp.ratio == pytest.approx(cmp.b.p50 / cmp.a.p50)  # a p50 ratio is exactly p50(B) / p50(A)
    assert cmp.a.batch == 2 and len(cmp.rounds_ms["ref"]) == 4 and len(cmp.a.times_ms) == 12
    d = json.loads(json.dumps(cmp.to_dict()))
    assert d["verdict"] == "slower" and d["latency_ms"]["cand"]["p50"] > d["latency_ms"]["ref"]["p50"]
    assert d["protocol"] == FAST.to_dict() and d["ratio_ci"][0] <= d["ratio"] <= d["ratio_ci"][1]


def test_from_rounds_and_verdicts():
    base = [[1.0, 1.1, 0.9]] * 5
    cmp = Comparison.from_rounds(base, [[t / 2 for t in r] for r in base])
    assert cmp.ratio == pytest.approx(0.5) and cmp.faster and cmp.verdict() == "faster"
    same = Comparison.from_rounds(base, base)
    assert same.ratio == pytest.approx(1.0) and same.verdict() == "inconclusive"
    est = cmp.estimate
    assert est.ratio == cmp.ratio and est.rounds == (5, 5) and est.baseline_value == pytest.approx(1.0)


def test_compare_loads_models_on_one_backend(tmp_path):
    from edgecnn.zoo import load_model

    spec = load_model("lenet5", weights="random")
    x = spec.example_input(1).numpy()
    cmp = compare(spec, spec, x, backend="torch", protocol=FAST)
    assert 0.2 < cmp.ratio < 5 and cmp.a.times_ms and cmp.b.times_ms


def test_one_quick_preset():
    assert QUICK_PROTOCOL.rounds >= 3  # enough rounds for a bootstrap over rounds
    assert QUICK_PROTOCOL.min_seconds <= TimingProtocol().min_seconds

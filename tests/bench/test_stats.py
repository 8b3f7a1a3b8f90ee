"""The compare statistics on synthetic timings: regressions fail, noise passes, too little data is inconclusive."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.bench.stats import bootstrap_ratio, decide, metric_value
from edgecnn.errors import InvalidInputError
from edgecnn.profiling.stats import LatencyStats, percentile


def _scaled(rounds, factor):
    return [[t * factor for t in r] for r in rounds]


@pytest.mark.parametrize("metric", ["p10", "p50", "mean", "min", "p90"])
def test_clear_regression_is_flagged(synth, metric):
    base = synth.rounds(0.30, seed=1)
    cur = _scaled(synth.rounds(0.30, seed=2), 1.30)
    est = bootstrap_ratio(base, cur, metric=metric, seed=0)
    assert est.low > 1.10
    assert decide(est, max_regression=0.10).verdict == "regression"


@pytest.mark.parametrize("metric", ["p10", "p50", "mean"])
def test_noise_alone_passes(synth, metric):
    verdicts = [
        decide(
            bootstrap_ratio(synth.rounds(0.30, seed=s), synth.rounds(0.30, seed=100 + s), metric=metric, seed=s),
            max_regression=0.10,
        ).verdict
        for s in range(10)
    ]
    assert verdicts == ["pass"] * 10


def test_too_little_data_is_inconclusive_with_a_suggestion(synth):
    est = bootstrap_ratio(synth.rounds(0.3, rounds=2), _scaled(synth.rounds(0.3, rounds=2, seed=3), 1.5))
    decision = decide(est, max_regression=0.10)
    assert decision.verdict == "inconclusive"
    assert "too little data" in decision.reason and "rounds" in decision.suggestion


def test_ratio_near_threshold_is_inconclusive_and_suggests_more_rounds(synth):
    base = synth.rounds(0.3, rounds=4, iters=30, round_jitter=0.15, seed=4)
    cur = _scaled(synth.rounds(0.3, rounds=4, iters=30, round_jitter=0.15, seed=5), 1.10)
    decision = decide(bootstrap_ratio(base, cur, metric="p50"), max_regression=0.10)
    assert decision.verdict == "inconclusive"
    assert decision.suggestion


def test_same_seed_same_interval(synth):
    base, cur = synth.rounds(0.3, seed=1), synth.rounds(0.33, seed=2)
    assert bootstrap_ratio(base, cur, seed=7) == bootstrap_ratio(base, cur, seed=7)


def test_paired_comparison_cancels_drift_between_rounds(synth):
    """Each round of both sides slowed alike (machine load): paired resampling keeps the interval narrow."""
    rng = np.random.default_rng(0)
    load = 1 + rng.uniform(0, 1.0, 12)
    a = [[t * factor for t in r] for r, factor in zip(synth.rounds(0.3, round_jitter=0, seed=1), load)]
    b = [[t * factor * 0.8 for t in r] for r, factor in zip(synth.rounds(0.3, round_jitter=0, seed=2), load)]
    paired = bootstrap_ratio(a, b, metric="p50", paired=True)
    unpaired = bootstrap_ratio(a, b, metric="p50")
    assert paired.high - paired.low < (unpaired.high - unpaired.low) / 3
    assert 0.75 < paired.low < 0.8 < paired.high < 0.9


def test_metric_value_matches_numpy():
    x = np.random.default_rng(0).gamma(2, 1, 1001)
    assert metric_value(x, "p50") == pytest.approx(np.median(x))
    assert metric_value(x, "mean") == pytest.approx(x.mean())
    assert metric_value(x, "min") == x.min()
    assert metric_value(x, "p10") == pytest.approx(np.percentile(x, 10))


@pytest.mark.parametrize("n", [7, 8, 200])
def test_bench_and_profile_percentiles_are_the_same_numbers(n):
    x = list(np.random.default_rng(n).gamma(2, 1, n))
    st = LatencyStats(x)
    summary = st.summary()
    assert metric_value(x, "p50") == st.p50 == summary["p50"] == percentile(x, 50)
    assert metric_value(x, "p90") == summary["p90"] == st.percentile(90)
    assert metric_value(x, "p10") == st.percentile(10)
    if n % 2 == 0:  # an even count: the median is the mean of the two middle samples, not one of them
        mid = sorted(x)[n // 2 - 1 : n // 2 + 1]
        assert st.p50 == pytest.approx(sum(mid) / 2) and st.p50 not in x


def test_bad_inputs_are_user_errors(synth):
    with pytest.raises(InvalidInputError, match="unknown metric"):
        bootstrap_ratio(synth.rounds(0.3), synth.rounds(0.3), metric="p42")
    with pytest.raises(InvalidInputError, match="no timings"):
        bootstrap_ratio([], synth.rounds(0.3))
    with pytest.raises(InvalidInputError, match="non-finite"):
        bootstrap_ratio([[1.0, float("nan")]] * 3, synth.rounds(0.3))
    with pytest.raises(InvalidInputError, match="same rounds"):
        bootstrap_ratio(synth.rounds(0.3, rounds=3), synth.rounds(0.3, rounds=4), paired=True)


def test_reference_workload_is_the_same_model_every_run(tmp_path):
    from edgecnn.bench.anchor import write_anchor_model
    from edgecnn.fileio import sha256_file
    from edgecnn.runtime import load_session

    a, b = write_anchor_model(tmp_path / "a.onnx"), write_anchor_model(tmp_path / "b.onnx")
    assert sha256_file(a) == sha256_file(b)
    out = load_session(a, threads=1).run(np.zeros((1, 16, 24, 24), np.float32))[0]
    assert out.shape == (1, 16, 24, 24)

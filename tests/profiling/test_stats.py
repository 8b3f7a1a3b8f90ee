from __future__ import annotations

import json

import numpy as np
import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.profiling.stats import LatencyStats, median_ci


def test_median_ci_uses_the_binomial_order_statistics():
    a = np.arange(1, 101, dtype=float)  # ranks 40 and 61 bound the 95% interval of a median of 100
    assert median_ci(a) == (40.0, 61.0)
    assert median_ci(np.arange(1, 7)) == (1.0, 6.0)  # too few samples: the full range
    lo, hi = median_ci(np.arange(1, 5001))
    assert lo < 2500.5 < hi and hi - lo < 200
    # beyond 1,000 samples the ranks come from the normal approximation: z(0.975) = 1.95996...
    assert (lo, hi) == (2430.0, 2571.0)


def test_median_ci_covers_the_true_median_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true_median = 1.0  # median of lognormal(0, s) is exp(0)
    trials = 600
    hits = sum(lo <= true_median <= hi for lo, hi in (median_ci(rng.lognormal(0, 0.5, 41)) for _ in range(trials)))
    assert 0.93 <= hits / trials <= 0.99


def test_summary_matches_numpy_and_round_trips_through_json():
    times = list(np.random.default_rng(1).gamma(4, 1.0, 200))
    st = LatencyStats(times, batch=4, warmup=3, threads=2, h2d_ms=[0.1] * 200, clock="cuda_event")
    s = st.summary()
    assert s["p50"] == pytest.approx(np.median(times)) and s["p99"] == pytest.approx(np.percentile(times, 99))
    assert s["std"] == pytest.approx(np.std(times, ddof=1)) and st.throughput == pytest.approx(4000 / s["p50"])
    d = json.loads(json.dumps(st.to_dict()))
    assert d["h2d_ms"]["p50"] == pytest.approx(0.1) and d["median_ci95_ms"][0] <= s["p50"] <= d["median_ci95_ms"][1]
    back = LatencyStats.from_dict(d)
    assert back.batch == 4 and back.clock == "cuda_event" and back.p50 == pytest.approx(st.p50, rel=1e-6)
    assert back.h2d_ms and len(back.h2d_ms) == 200
    with pytest.raises(InvalidInputError, match="per-iteration times"):
        LatencyStats.from_dict(st.to_dict(include_times=False))

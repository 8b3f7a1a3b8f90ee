"""Bench verdicts on latency ratios: the default metric, the decision rule and how many rounds would settle it.

The statistics themselves (a block bootstrap over interleaved rounds, `RatioEstimate`) live in
`edgecnn.profiling.stats`, shared with `edgecnn.profiling.compare.Comparison`; they are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from edgecnn.profiling.stats import (  # noqa: F401  (re-exported for bench modules)
    METRICS,
    Metric,
    RatioEstimate,
    bootstrap_ratio,
    check_metric,
    metric_value,
)

# Contention on a shared machine only ever adds time, so a low quantile is far steadier between runs than
# the median: on this 2-core machine under load 8-10, over 12 runs the pooled p10 of small ORT models
# moved 5-7% while the median moved 29-58% (see docs/bench.md).
DEFAULT_METRIC = "p10"

MIN_ROUNDS = 3  # below this a bootstrap over rounds has almost no distinct resamples


Verdict = Literal["pass", "regression", "inconclusive"]


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    suggestion: str | None = None


def decide(est: RatioEstimate, *, max_regression: float) -> Decision:
    """Regression only when the whole interval lies above 1 + max_regression; pass only when it lies below."""
    limit = 1 + max_regression
    pct = f"{max_regression:.0%}"
    if min(est.rounds) < MIN_ROUNDS:
        return Decision(
            "inconclusive",
            f"too little data: {min(est.rounds)} round(s) on one side (need {MIN_ROUNDS})",
            f"run the suite with at least {max(MIN_ROUNDS, 10)} rounds",
        )
    if est.low > limit:
        return Decision(
            "regression",
            f"slower by {est.ratio - 1:+.1%} (interval {est.low:.3f}-{est.high:.3f} lies above {limit:.2f})",
        )
    if est.high <= limit:
        return Decision("pass", f"{est.ratio - 1:+.1%}, within the {pct} budget (interval up to {est.high:.3f})")
    return Decision(
        "inconclusive",
        f"{est.ratio - 1:+.1%}; the interval {est.low:.3f}-{est.high:.3f} straddles {limit:.2f}",
        _more_rounds(est, limit),
    )


def _more_rounds(est: RatioEstimate, limit: float) -> str:
    """Interval width shrinks like 1/sqrt(rounds): how many rounds would put it clear of the limit."""
    margin = abs(est.ratio - limit)
    if margin < 0.01 * limit or est.half_width <= 0:
        return "the estimate sits on the threshold itself: more iterations will not decide it; revisit the threshold"
    factor = (est.half_width / margin) ** 2 * 1.2
    rounds = max(est.rounds)
    needed = min(1000, max(rounds + 1, math.ceil(rounds * factor)))
    return f"rerun with about {needed} rounds (now {rounds}), e.g. `protocol: {{rounds: {needed}}}` in the suite"

"""Statistics for latency comparisons on noisy machines: a block bootstrap over interleaved rounds.

A benchmark case's timings come in rounds (all cases of a suite take turns, round after round). Rounds,
not iterations, are the unit of resampling: iterations inside one round share the machine's state at
that moment (other processes, caches, clock), so treating them as independent would give intervals that
are far too narrow. The statistic of a case is computed over the pooled iterations of its (resampled)
rounds; a comparison is the ratio current / baseline of that statistic with a seeded percentile
bootstrap interval. Two cases measured in the same run are compared *paired*: both get the same
resampled rounds, so drift within the run cancels.

numpy only; the weighted-quantile formulation lets thousands of bootstrap replicates run vectorised.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from edgecnn.errors import InvalidInputError

Metric = Literal["min", "p10", "p25", "p50", "p90", "mean"]
METRICS: tuple[str, ...] = ("min", "p10", "p25", "p50", "p90", "mean")
_QUANTILE = {"p10": 0.10, "p25": 0.25, "p50": 0.50, "p90": 0.90}

# Contention on a shared machine only ever adds time, so a low quantile is far steadier between runs than
# the median: on this 2-core machine under load 8-10, over 12 runs the pooled p10 of small ORT models
# moved 5-7% while the median moved 29-58% (see docs/bench.md).
DEFAULT_METRIC = "p10"

MIN_ROUNDS = 3  # below this a bootstrap over rounds has almost no distinct resamples


@dataclass(frozen=True)
class RatioEstimate:
    """`ratio` = statistic(current) / statistic(baseline), with its bootstrap interval [low, high]."""

    ratio: float
    low: float
    high: float
    confidence: float
    baseline_value: float
    current_value: float
    rounds: tuple[int, int]  # (baseline rounds, current rounds)

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def to_dict(self) -> dict[str, float | list[int]]:
        return {
            "ratio": self.ratio,
            "ci_low": self.low,
            "ci_high": self.high,
            "confidence": self.confidence,
            "baseline": self.baseline_value,
            "current": self.current_value,
            "rounds": list(self.rounds),
        }


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise InvalidInputError(f"unknown metric '{metric}'; choose one of {', '.join(METRICS)}")
    return metric


def metric_value(times: Sequence[float] | np.ndarray, metric: str) -> float:
    """The statistic of one sample (quantiles by the inverse CDF, as the bootstrap computes them)."""
    a = np.asarray(times, dtype=np.float64)
    if metric == "mean":
        return float(a.mean())
    if metric == "min":
        return float(a.min())
    return float(np.quantile(a, _QUANTILE[metric], method="inverted_cdf"))


class _Pooled:
    """A case's rounds reduced to what the bootstrap needs.

    Sorted iterations are cut into at most `_GROUPS` runs of neighbours; `counts[r, g]` says how many of
    group g came from round r. A replicate's quantile is then a cumulative sum over groups instead of
    over every iteration (the answer can be off by one neighbour, far below timing resolution).
    """

    def __init__(self, rounds: Sequence[np.ndarray]) -> None:
        values = np.concatenate(rounds)
        labels = np.concatenate([np.full(len(r), i) for i, r in enumerate(rounds)])
        order = np.argsort(values, kind="stable")
        values, labels = values[order], labels[order]
        group = np.arange(len(values)) * min(_GROUPS, len(values)) // len(values)
        n_groups = int(group[-1]) + 1
        self.counts = np.zeros((len(rounds), n_groups))
        np.add.at(self.counts, (labels, group), 1.0)
        starts = np.searchsorted(group, np.arange(n_groups))
        ends = np.append(starts[1:], len(values))
        self.group_value = values[(starts + ends - 1) // 2]  # each group's middle element
        self.round_min = np.array([r.min() for r in rounds])
        self.round_sum = np.array([r.sum() for r in rounds])
        self.round_n = np.array([float(len(r)) for r in rounds])


_GROUPS = 1024


def _replicates(pooled: _Pooled, draws: np.ndarray, metric: str) -> np.ndarray:
    """The statistic for each row of `draws` (replicates x rounds): how often each round was drawn."""
    if metric == "mean":
        return (draws @ pooled.round_sum) / (draws @ pooled.round_n)
    if metric == "min":
        return np.where(draws > 0, pooled.round_min, np.inf).min(1)
    cum = np.cumsum(draws @ pooled.counts, axis=1)
    idx = np.minimum((cum < _QUANTILE[metric] * cum[:, -1:]).sum(1), cum.shape[1] - 1)
    return pooled.group_value[idx]


def _as_rounds(rounds: Sequence[Sequence[float]], what: str) -> list[np.ndarray]:
    arrays = [np.asarray(r, dtype=np.float64) for r in rounds if len(r)]
    if not arrays:
        raise InvalidInputError(f"{what} has no timings")
    if any(not np.all(np.isfinite(a)) or np.any(a < 0) for a in arrays):
        raise InvalidInputError(f"{what} has negative or non-finite timings")
    return arrays


def bootstrap_ratio(
    baseline: Sequence[Sequence[float]],
    current: Sequence[Sequence[float]],
    *,
    metric: str = "p50",
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    paired: bool = False,
) -> RatioEstimate:
    """Ratio statistic(current) / statistic(baseline) with a percentile block-bootstrap interval over rounds.

    `paired=True` (both measured interleaved in the same run, same number of rounds) resamples the same
    round indices on both sides, so whatever slowed round k slowed both and cancels in the ratio.
    """
    check_metric(metric)
    if not 0.5 < confidence < 1:
        raise InvalidInputError(f"confidence must lie between 0.5 and 1, got {confidence}")
    base, cur = _as_rounds(baseline, "baseline"), _as_rounds(current, "current")
    if paired and len(base) != len(cur):
        raise InvalidInputError(f"a paired comparison needs the same rounds on both sides ({len(base)} vs {len(cur)})")
    rng = np.random.default_rng(seed)
    wb = _resample_counts(rng, len(base), n_boot)
    wc = wb if paired else _resample_counts(rng, len(cur), n_boot)
    ratios = _replicates(_Pooled(cur), wc, metric) / np.maximum(_replicates(_Pooled(base), wb, metric), 1e-12)
    b0, c0 = metric_value(np.concatenate(base), metric), metric_value(np.concatenate(cur), metric)
    alpha = 1 - confidence
    low, high = np.quantile(ratios, [alpha / 2, 1 - alpha / 2])
    return RatioEstimate(
        ratio=c0 / max(b0, 1e-12),
        low=float(low),
        high=float(high),
        confidence=confidence,
        baseline_value=b0,
        current_value=c0,
        rounds=(len(base), len(cur)),
    )


def _resample_counts(rng: np.random.Generator, n_rounds: int, n_boot: int) -> np.ndarray:
    """How often each round is drawn in each replicate (a multinomial draw is a with-replacement resample)."""
    return rng.multinomial(n_rounds, np.full(n_rounds, 1.0 / n_rounds), size=n_boot).astype(np.float64)


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

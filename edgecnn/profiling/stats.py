"""LatencyStats: per-iteration times plus the summary statistics every report uses; ratio statistics over rounds.

numpy only (no scipy, no torch): the device agent computes the same statistics on the device.

Ratios (what `edgecnn.profiling.compare.Comparison` and the bench gates report):

A benchmark case's timings come in rounds (all cases of a suite take turns, round after round). Rounds,
not iterations, are the unit of resampling: iterations inside one round share the machine's state at
that moment (other processes, caches, clock), so treating them as independent would give intervals that
are far too narrow. The statistic of a case is computed over the pooled iterations of its (resampled)
rounds; a comparison is the ratio current / baseline of that statistic with a seeded percentile
bootstrap interval. Two cases measured in the same run are compared *paired*: both get the same
resampled rounds, so drift within the run cancels.

The weighted-quantile formulation lets thousands of bootstrap replicates run vectorised (a replicate's quantile
is read off groups of sorted neighbours, so it can differ from `percentile` by one neighbour; the point
estimate is `percentile` itself).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgecnn.errors import InvalidInputError


def percentile(samples: Sequence[float] | np.ndarray, q: float) -> float:
    """The q-th percentile (0-100) of latency samples; every p50/p90/... edgecnn reports is this function.

    Linear interpolation between the two nearest order statistics (numpy's default, Hyndman & Fan type 7):
    p50 is the textbook median (the mean of the two middle samples when their number is even).
    """
    return float(np.percentile(np.asarray(samples, dtype=np.float64), q))


def median_ci(times: list[float] | np.ndarray, *, confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free confidence interval for the median, from order statistics.

    The number of samples below the true median is Binomial(n, 1/2); the interval runs between the
    order statistics that enclose `confidence` of that distribution. Iterations of a timing loop are
    not fully independent (caches, frequency), so read it as a lower bound on the real uncertainty.
    """
    a = np.sort(np.asarray(times, dtype=np.float64))
    n = len(a)
    if n == 0:
        return (math.nan, math.nan)
    if n < 6:  # no pair of order statistics reaches 95% below six samples: report the full range
        return (float(a[0]), float(a[-1]))
    alpha = 1.0 - confidence
    if n <= 1000:
        # exact: the largest j with P(B <= j - 1) <= alpha/2, 1-based ranks j and n + 1 - j
        cdf, j = 0.0, 0
        while True:
            p = math.comb(n, j) / 2.0**n
            if cdf + p > alpha / 2:
                break
            cdf += p
            j += 1
        lo = max(j, 1)
    else:
        z = statistics.NormalDist().inv_cdf(1 - alpha / 2)
        lo = max(1, int(math.floor(n / 2 - z * math.sqrt(n) / 2)))
    hi = n + 1 - lo
    return (float(a[lo - 1]), float(a[hi - 1]))


@dataclass
class LatencyStats:
    times_ms: list[float]
    batch: int = 1
    warmup: int = 0
    threads: int | None = None
    environment: dict[str, Any] = field(default_factory=dict)
    clock: str = "perf_counter"  # "cuda_event" when timed with CUDA events on the GPU stream
    h2d_ms: list[float] | None = None  # host-to-device input copies, timed apart from the model (CUDA)

    def _arr(self) -> np.ndarray:
        return np.asarray(self.times_ms, dtype=np.float64)

    @property
    def p50(self) -> float:
        return percentile(self.times_ms, 50)

    def percentile(self, q: float) -> float:
        return percentile(self.times_ms, q)

    def median_ci(self, *, confidence: float = 0.95) -> tuple[float, float]:
        return median_ci(self.times_ms, confidence=confidence)

    def summary(self) -> dict[str, float]:
        a = self._arr()
        return {
            "p50": percentile(a, 50),
            "p90": percentile(a, 90),
            "p95": percentile(a, 95),
            "p99": percentile(a, 99),
            "mean": float(a.mean()),
            "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "min": float(a.min()),
            "max": float(a.max()),
        }

    @property
    def throughput(self) -> float:
        """Items per second at the median latency."""
        return 1000.0 * self.batch / self.p50

    def to_dict(self, *, include_times: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {
            "latency_ms": self.summary(),
            "median_ci95_ms": list(self.median_ci()),
            "throughput": self.throughput,
            "iterations": len(self.times_ms),
            "batch": self.batch,
            "warmup": self.warmup,
            "threads": self.threads,
            "clock": self.clock,
        }
        if self.h2d_ms:
            h2d = np.asarray(self.h2d_ms)
            d["h2d_ms"] = {"p50": percentile(h2d, 50), "mean": float(h2d.mean()), "max": float(h2d.max())}
        if include_times:
            d["times_ms"] = [round(t, 5) for t in self.times_ms]
            if self.h2d_ms:
                d["h2d_times_ms"] = [round(t, 5) for t in self.h2d_ms]
        if self.environment:
            d["environment"] = self.environment
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatencyStats:
        """Rebuild from `to_dict()` output (which must include the times), e.g. a device agent's reply."""
        if not d.get("times_ms"):
            from edgecnn.errors import InvalidInputError

            raise InvalidInputError("latency statistics without per-iteration times cannot be rebuilt")
        return cls(
            times_ms=[float(t) for t in d["times_ms"]],
            batch=int(d.get("batch", 1)),
            warmup=int(d.get("warmup", 0)),
            threads=d.get("threads"),
            environment=dict(d.get("environment") or {}),
            clock=d.get("clock", "perf_counter"),
            h2d_ms=[float(t) for t in d["h2d_times_ms"]] if d.get("h2d_times_ms") else None,
        )


Metric = Literal["min", "p10", "p25", "p50", "p90", "mean"]
METRICS: tuple[str, ...] = ("min", "p10", "p25", "p50", "p90", "mean")
_PERCENT = {"p10": 10.0, "p25": 25.0, "p50": 50.0, "p90": 90.0}


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
    """The statistic of one sample; quantiles are `percentile`'s, so a bench p50 is LatencyStats.p50."""
    a = np.asarray(times, dtype=np.float64)
    if metric == "mean":
        return float(a.mean())
    if metric == "min":
        return float(a.min())
    return percentile(a, _PERCENT[metric])


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
    idx = np.minimum((cum < _PERCENT[metric] / 100 * cum[:, -1:]).sum(1), cum.shape[1] - 1)
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
    return RatioEstimate(
        ratio=c0 / max(b0, 1e-12),
        low=percentile(ratios, 100 * alpha / 2),
        high=percentile(ratios, 100 * (1 - alpha / 2)),
        confidence=confidence,
        baseline_value=b0,
        current_value=c0,
        rounds=(len(base), len(cur)),
    )


def _resample_counts(rng: np.random.Generator, n_rounds: int, n_boot: int) -> np.ndarray:
    """How often each round is drawn in each replicate (a multinomial draw is a with-replacement resample)."""
    return rng.multinomial(n_rounds, np.full(n_rounds, 1.0 / n_rounds), size=n_boot).astype(np.float64)

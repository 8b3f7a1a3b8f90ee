"""`Comparison`: A vs B latency, timed with the one protocol in interleaved rounds, read as a ratio with a CI.

Every "is it faster?" in edgecnn is one of these: quantize()'s int8-vs-fp32 check, the prune and fold_bn
passes' quick checks, profile()'s baseline-vs-optimized and the bench A/B. `ratio` = statistic(B) /
statistic(A) (< 1: B is faster); its interval is a paired block bootstrap over rounds
(`profiling.stats.bootstrap_ratio`), so drift that slowed round k slowed both sides and cancels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from edgecnn.profiling.stats import LatencyStats, RatioEstimate, bootstrap_ratio, check_metric, metric_value
from edgecnn.profiling.timing import DEFAULT_PROTOCOL, TimingProtocol, _batch_of, pooled_stats, time_rounds
from edgecnn.runtime import load_session

DEFAULT_METRIC = "p50"  # the statistic of a Comparison unless its caller asks for another (the bench uses p10)
DEFAULT_CONFIDENCE = 0.95

Verdict = Literal["faster", "slower", "inconclusive"]


@dataclass(frozen=True)
class Comparison:
    """A (the reference) vs B (the candidate): their latencies and ratio = statistic(B) / statistic(A)."""

    a: LatencyStats
    b: LatencyStats
    ratio: float
    ci_low: float
    ci_high: float
    confidence: float = DEFAULT_CONFIDENCE
    metric: str = DEFAULT_METRIC
    names: tuple[str, str] = ("a", "b")
    rounds_ms: dict[str, list[list[float]]] = field(default_factory=dict, repr=False)
    protocol: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_rounds(
        cls,
        a_rounds: list[list[float]],
        b_rounds: list[list[float]],
        *,
        a: LatencyStats | None = None,
        b: LatencyStats | None = None,
        names: tuple[str, str] = ("a", "b"),
        metric: str = DEFAULT_METRIC,
        confidence: float = DEFAULT_CONFIDENCE,
        seed: int = 0,
        protocol: TimingProtocol | None = None,
    ) -> Comparison:
        """The ratio and its paired bootstrap interval from per-round times measured interleaved."""
        est = bootstrap_ratio(
            a_rounds, b_rounds, metric=check_metric(metric), confidence=confidence, seed=seed, paired=True
        )
        return cls(
            a=a if a is not None else LatencyStats([t for r in a_rounds for t in r]),
            b=b if b is not None else LatencyStats([t for r in b_rounds for t in r]),
            ratio=est.ratio,
            ci_low=est.low,
            ci_high=est.high,
            confidence=confidence,
            metric=metric,
            names=names,
            rounds_ms={names[0]: [list(r) for r in a_rounds], names[1]: [list(r) for r in b_rounds]},
            protocol=protocol.to_dict() if protocol is not None else {},
        )

    @property
    def speedup(self) -> float:
        """statistic(A) / statistic(B): > 1 when B is faster."""
        return 1.0 / self.ratio if self.ratio > 0 else float("inf")

    @property
    def faster(self) -> bool:
        """B's point estimate is below A's (read `verdict()` for whether the interval agrees)."""
        return self.ratio < 1.0

    def verdict(self, *, margin: float = 0.0) -> Verdict:
        """'faster': the whole interval lies below 1 - margin; 'slower': above 1 + margin; else 'inconclusive'."""
        if self.ci_high < 1.0 - margin:
            return "faster"
        if self.ci_low > 1.0 + margin:
            return "slower"
        return "inconclusive"

    @property
    def estimate(self) -> RatioEstimate:
        """The ratio as the bench's `RatioEstimate` (baseline = A, current = B)."""

        rounds = (len(self.rounds_ms.get(self.names[0], [])), len(self.rounds_ms.get(self.names[1], [])))
        return RatioEstimate(
            ratio=self.ratio,
            low=self.ci_low,
            high=self.ci_high,
            confidence=self.confidence,
            baseline_value=metric_value(self.a.times_ms, self.metric),
            current_value=metric_value(self.b.times_ms, self.metric),
            rounds=rounds,
        )

    def to_dict(self, *, include_times: bool = False) -> dict[str, Any]:
        a_name, b_name = self.names
        d: dict[str, Any] = {
            "a": a_name,
            "b": b_name,
            "metric": self.metric,
            "ratio": self.ratio,
            "ratio_ci": [self.ci_low, self.ci_high],
            "confidence": self.confidence,
            "speedup": self.speedup,
            "faster": self.faster,
            "verdict": self.verdict(),
            "rounds": len(self.rounds_ms.get(a_name, [])),
            "latency_ms": {a_name: self.a.summary(), b_name: self.b.summary()},
            "iterations": {a_name: len(self.a.times_ms), b_name: len(self.b.times_ms)},
            "protocol": self.protocol,
            "method": "interleaved rounds; ratio B/A with a paired block-bootstrap interval over rounds",
        }
        if include_times:
            d["rounds_ms"] = self.rounds_ms
        return d


def compare_sessions(
    a: Any,
    b: Any,
    inputs: Any,
    *,
    protocol: TimingProtocol = DEFAULT_PROTOCOL,
    names: tuple[str, str] = ("a", "b"),
    metric: str = DEFAULT_METRIC,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = 0,
    batch: int | None = None,
) -> Comparison:
    """Time two loaded sessions (anything with `.run(inputs)`) in interleaved rounds; B against A."""
    check_metric(metric)
    sessions = {names[0]: a, names[1]: b}
    rounds = time_rounds(sessions, inputs, protocol)
    n = batch or _batch_of(inputs)
    return Comparison.from_rounds(
        rounds[names[0]],
        rounds[names[1]],
        a=pooled_stats(rounds[names[0]], a, protocol, batch=n),
        b=pooled_stats(rounds[names[1]], b, protocol, batch=n),
        names=names,
        metric=metric,
        confidence=confidence,
        seed=seed,
        protocol=protocol,
    )


def compare(
    a: Any,
    b: Any,
    inputs: Any,
    *,
    backend: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    protocol: TimingProtocol = DEFAULT_PROTOCOL,
    names: tuple[str, str] = ("a", "b"),
    metric: str = DEFAULT_METRIC,
    confidence: float = DEFAULT_CONFIDENCE,
) -> Comparison:
    """Load A and B (Artifacts, model files or ModelSpecs) on the same backend and threads, then compare them.

    Raises the runtime's UserError when the backend or device is not available here.
    """

    sessions: list[Any] = []
    try:
        for model in (a, b):
            sessions.append(load_session(model, backend=backend, device=device, threads=threads))
        return compare_sessions(*sessions, inputs, protocol=protocol, names=names, metric=metric, confidence=confidence)
    finally:
        for s in sessions:
            if hasattr(s, "close"):
                s.close()

"""LatencyStats: per-iteration times plus the summary statistics every report uses.

numpy only (no scipy, no torch): the device agent computes the same statistics on the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
        z = _normal_quantile(1 - alpha / 2)
        lo = max(1, int(math.floor(n / 2 - z * math.sqrt(n) / 2)))
    hi = n + 1 - lo
    return (float(a[lo - 1]), float(a[hi - 1]))


def _normal_quantile(p: float) -> float:
    """Inverse standard normal CDF by bisection on erf (only needed for large n; avoids scipy)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


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
        return float(np.median(self._arr()))

    def percentile(self, q: float) -> float:
        return float(np.percentile(self._arr(), q))

    def median_ci(self, *, confidence: float = 0.95) -> tuple[float, float]:
        return median_ci(self.times_ms, confidence=confidence)

    def summary(self) -> dict[str, float]:
        a = self._arr()
        return {
            "p50": float(np.median(a)),
            "p90": float(np.percentile(a, 90)),
            "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)),
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
            d["h2d_ms"] = {"p50": float(np.median(h2d)), "mean": float(h2d.mean()), "max": float(h2d.max())}
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

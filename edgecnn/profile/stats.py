"""LatencyStats: per-iteration times plus the summary statistics every report uses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LatencyStats:
    times_ms: list[float]
    batch: int = 1
    warmup: int = 0
    threads: int | None = None
    environment: dict[str, Any] = field(default_factory=dict)

    def _arr(self) -> np.ndarray:
        return np.asarray(self.times_ms, dtype=np.float64)

    @property
    def p50(self) -> float:
        return float(np.median(self._arr()))

    def percentile(self, q: float) -> float:
        return float(np.percentile(self._arr(), q))

    def summary(self) -> dict[str, float]:
        a = self._arr()
        return {
            "p50": float(np.median(a)), "p90": float(np.percentile(a, 90)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "min": float(a.min()), "max": float(a.max()),
        }

    @property
    def throughput(self) -> float:
        """Items per second at the median latency."""
        return 1000.0 * self.batch / self.p50

    def to_dict(self, *, include_times: bool = True) -> dict[str, Any]:
        d: dict[str, Any] = {"latency_ms": self.summary(), "throughput": self.throughput, "iterations": len(self.times_ms),
                             "batch": self.batch, "warmup": self.warmup, "threads": self.threads}
        if include_times:
            d["times_ms"] = [round(t, 5) for t in self.times_ms]
        return d

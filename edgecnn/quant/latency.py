"""Is the quantized model actually faster? fp32 and the candidate compared side by side on the target backend.

A `Comparison` (the one timing protocol, interleaved rounds, ratio with an interval) with the quick preset:
quantize() may compare several candidates in one call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import UserError
from edgecnn.profiling.compare import compare
from edgecnn.profiling.timing import QUICK_PROTOCOL, TimingProtocol


def compare_latency(
    fp32: str | Path,
    candidate: str | Path,
    x: np.ndarray,
    *,
    backend: str,
    device: str = "cpu",
    threads: int | None = None,
    protocol: TimingProtocol = QUICK_PROTOCOL,
) -> dict[str, Any]:
    """fp32 vs candidate: p50s, ratio candidate/fp32 with its interval; `skipped` when it cannot run here."""
    try:
        cmp = compare(
            fp32,
            candidate,
            x,
            backend=backend,
            device=device,
            threads=threads,
            protocol=protocol,
            names=("fp32", "candidate"),
        )
    except UserError as exc:  # backend or device not available on this machine
        return {"skipped": f"cannot time on {backend}/{device} here: {exc}"}
    return {
        "backend": backend,
        "device": device,
        "threads": threads,
        "fp32_p50_ms": cmp.a.p50,
        "p50_ms": cmp.b.p50,
        "ratio": cmp.ratio,
        "ratio_ci": [cmp.ci_low, cmp.ci_high],
        "speedup": cmp.speedup,
        "faster": cmp.faster,
        "verdict": cmp.verdict(),
        "iterations": len(cmp.b.times_ms),
    }

"""Is the quantized model actually faster? fp32 and the candidate timed side by side on the target backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import UserError
from edgecnn.profiling.timing import TimingProtocol, compare_interleaved

# short enough to run for several candidates inside quantize(); benchmarks use longer protocols
QUICK_PROTOCOL = TimingProtocol(warmup=5, min_iters=20, min_seconds=1.0, rounds=4)


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
    """Median latencies of fp32 and candidate (interleaved rounds) and their ratio; `skipped` when it cannot run here."""
    from edgecnn.runtime import load_session

    try:
        sessions = {
            "fp32": load_session(fp32, backend=backend, device=device, threads=threads),
            "candidate": load_session(candidate, backend=backend, device=device, threads=threads),
        }
    except UserError as exc:  # backend or device not available on this machine
        return {"skipped": f"cannot time on {backend}/{device} here: {exc}"}
    stats = compare_interleaved(sessions, x, protocol)
    fp32_ms, cand_ms = stats["fp32"].p50, stats["candidate"].p50
    return {
        "backend": backend,
        "device": device,
        "threads": threads,
        "fp32_p50_ms": fp32_ms,
        "p50_ms": cand_ms,
        "ratio": cand_ms / fp32_ms,
        "speedup": fp32_ms / cand_ms,
        "faster": cand_ms < fp32_ms,
        "iterations": len(stats["candidate"].times_ms),
    }

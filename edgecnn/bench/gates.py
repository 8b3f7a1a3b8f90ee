"""Gates beyond latency regressions, checked within one run: speed-up over a reference precision (e.g. int8
must beat fp32), top-1 accuracy drop, model size.

The speed-up gate compares two cases measured in the same interleaved rounds, so it uses the paired
bootstrap: it passes when the whole interval clears the required speed-up, fails when the whole interval
misses it, and is inconclusive otherwise.
"""

from __future__ import annotations

from typing import Any

from edgecnn.bench.stats import MIN_ROUNDS, bootstrap_ratio
from edgecnn.bench.suite import GateSpec


def evaluate_gates(
    gates: list[GateSpec], cases: list[dict[str, Any]], *, metric: str, confidence: float = 0.95, seed: int = 0
) -> list[dict[str, Any]]:
    """One result per (gate, matching case) of a results file's cases."""
    out: list[dict[str, Any]] = []
    for gate in gates:
        for case in cases:
            cfg = case["config"]
            if (gate.model and cfg["name"] != gate.model) or (gate.precision and cfg["precision"] != gate.precision):
                continue
            if gate.type == "max_size":
                out.append(_size(gate, case))
                continue
            ref = _reference(case, cases, gate.reference)
            if ref is None:
                out.append(_result(gate, case, None, None, None, "fail", f"no {gate.reference} case to compare with"))
            elif gate.type == "speedup":
                out.append(_speedup(gate, case, ref, metric=metric, confidence=confidence, seed=seed))
            else:
                out.append(_accuracy(gate, case, ref))
    return out


def _reference(case: dict[str, Any], cases: list[dict[str, Any]], precision: str | None) -> dict[str, Any] | None:
    cfg = case["config"]
    same = ("name", "target", "batch", "threads")
    return next(
        (c for c in cases if c["config"]["precision"] == precision and all(c["config"][k] == cfg[k] for k in same)),
        None,
    )


def _speedup(
    gate: GateSpec, case: dict[str, Any], ref: dict[str, Any], *, metric: str, confidence: float, seed: int
) -> dict[str, Any]:
    # ratio reference / case = how many times faster the case is
    est = bootstrap_ratio(
        case["rounds_ms"], ref["rounds_ms"], metric=metric, confidence=confidence, seed=seed, paired=True
    )
    ci = [est.low, est.high]
    if min(est.rounds) < MIN_ROUNDS:
        return _result(gate, case, ref, est.ratio, ci, "inconclusive", f"too little data ({min(est.rounds)} rounds)")
    text = f"{est.ratio:.2f}x faster ({metric}; interval {est.low:.2f}-{est.high:.2f}x) vs required {gate.threshold:g}x"
    verdict = "pass" if est.low >= gate.threshold else "fail" if est.high < gate.threshold else "inconclusive"
    return _result(gate, case, ref, est.ratio, ci, verdict, text)


def _accuracy(gate: GateSpec, case: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    acc, ref_acc = (case.get("accuracy") or {}).get("top1"), (ref.get("accuracy") or {}).get("top1")
    if acc is None or ref_acc is None:
        return _result(gate, case, ref, None, None, "fail", "no accuracy measured (use weights: digits for zoo models)")
    drop = ref_acc - acc
    verdict = "pass" if drop <= gate.threshold else "fail"
    return _result(
        gate,
        case,
        ref,
        drop,
        None,
        verdict,
        f"top-1 {acc:.2f}% vs {ref_acc:.2f}%: drop {drop:.2f} points (max {gate.threshold:g})",
    )


def _size(gate: GateSpec, case: dict[str, Any]) -> dict[str, Any]:
    mb = case["artifact"]["bytes"] / 1e6
    verdict = "pass" if mb <= gate.threshold else "fail"
    return _result(gate, case, None, mb, None, verdict, f"{mb:.3f} MB (max {gate.threshold:g} MB)")


def _result(
    gate: GateSpec,
    case: dict[str, Any],
    ref: dict[str, Any] | None,
    value: float | None,
    ci: list[float] | None,
    verdict: str,
    reason: str,
) -> dict[str, Any]:
    return {
        "name": gate.label,
        "type": gate.type,
        "case": case["id"],
        "reference": ref["id"] if ref else None,
        "threshold": gate.threshold,
        "value": value,
        "ci": ci,
        "verdict": verdict,
        "reason": reason,
    }

"""Compare a current results file with a baseline, case by case, and decide: pass, regression, or inconclusive.

Latency: the ratio current / baseline of the chosen statistic with a seeded block-bootstrap interval over
rounds (`edgecnn.bench.stats`); a regression only when the whole interval lies above 1 + max_regression.
When both runs timed the reference workload (`edgecnn.bench.anchor`) and it ran clearly slower now than at
baseline, the machine was busier: a slowdown measured then is reported as inconclusive, not as a regression.
(Dividing the reference out was tried and rejected: in slow machine states small models slowed 1.5x while
the reference slowed 1.2x, so the corrected ratio still raised false alarms and missed real slowdowns.)
Also: cases missing from the current run, accuracy drops and size growth against the baseline, the
current run's own gates, and a check that both runs come from the same kind of machine and libraries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgecnn.bench.stats import DEFAULT_METRIC, Decision, RatioEstimate, bootstrap_ratio, check_metric, decide
from edgecnn.errors import InvalidInputError, UserError

# a change here makes latencies incomparable; other fingerprint fields are reported only
_HARDWARE = ("cpu", "arch", "cores", "flags")
_RUNTIMES = ("onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt", "numpy")
_INFO = ("os", "python", "memory_gib")


class EnvironmentMismatchError(UserError):
    """Baseline and current were measured on different hardware or runtime versions."""


@dataclass
class EnvDifference:
    field: str
    baseline: Any
    current: Any
    critical: bool

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "baseline": self.baseline, "current": self.current, "critical": self.critical}


def environment_diff(baseline: dict[str, Any], current: dict[str, Any]) -> list[EnvDifference]:
    """Fingerprint fields that differ; `critical` ones (CPU, cores, flags, runtime versions) change latency."""
    diffs = [
        EnvDifference(k, baseline.get(k), current.get(k), True) for k in _HARDWARE if baseline.get(k) != current.get(k)
    ]
    diffs += _microarch_diff(baseline.get("microarch"), current.get("microarch"))
    diffs += [
        EnvDifference(k, baseline.get(k), current.get(k), False) for k in _INFO if baseline.get(k) != current.get(k)
    ]
    bv, cv = baseline.get("versions") or {}, current.get("versions") or {}
    for pkg in sorted(set(bv) | set(cv)):
        if bv.get(pkg) != cv.get(pkg):
            diffs.append(EnvDifference(f"versions.{pkg}", bv.get(pkg), cv.get(pkg), pkg in _RUNTIMES))
    return diffs


def _microarch_diff(baseline: dict[str, Any] | None, current: dict[str, Any] | None) -> list[EnvDifference]:
    """archspec's microarchitecture names; a run without one (stored before it was recorded) compares as before.

    Critical only when archspec knew both CPUs: a "generic" vendor means its table lacked the CPU, and a
    newer archspec naming it later is not a hardware change.
    """
    if not baseline or not current or baseline.get("name") == current.get("name"):
        return []
    known = "generic" not in (baseline.get("vendor"), current.get("vendor"))
    return [EnvDifference("microarch", baseline.get("name"), current.get("name"), known)]


@dataclass
class CaseComparison:
    id: str
    verdict: str  # pass | regression | inconclusive | missing | new | accuracy | size
    reason: str
    suggestion: str | None = None
    estimate: RatioEstimate | None = None
    artifact_changed: bool | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.verdict in ("regression", "missing", "accuracy", "size")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "verdict": self.verdict,
            "failed": self.failed,
            "reason": self.reason,
            "suggestion": self.suggestion,
            "latency": self.estimate.to_dict() if self.estimate else None,
            "artifact_changed": self.artifact_changed,
            "notes": self.notes,
        }


@dataclass
class Comparison:
    suite: str
    metric: str
    max_regression: float
    confidence: float
    cases: list[CaseComparison]
    gates: list[dict[str, Any]]
    environment: list[EnvDifference]
    allow_env_mismatch: bool
    strict: bool
    machine: RatioEstimate | None = None  # reference workload, current / baseline
    baseline_created: str | None = None
    current_created: str | None = None

    @property
    def failures(self) -> list[str]:
        out = [f"{c.id}: {c.verdict} ({c.reason})" for c in self.cases if c.failed]
        out += [f"gate {g['name']} [{g['case']}]: {g['reason']}" for g in self.gates if g["verdict"] == "fail"]
        if self.strict:
            out += [f"{c.id}: inconclusive ({c.reason})" for c in self.cases if c.verdict == "inconclusive"]
            out += [
                f"gate {g['name']} [{g['case']}]: inconclusive" for g in self.gates if g["verdict"] == "inconclusive"
            ]
        return out

    @property
    def passed(self) -> bool:
        return not self.failures

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cases:
            out[c.verdict] = out.get(c.verdict, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "edgecnn.bench.comparison",
            "schema_version": 1,
            "suite": self.suite,
            "passed": self.passed,
            "metric": self.metric,
            "max_regression": self.max_regression,
            "confidence": self.confidence,
            "strict": self.strict,
            "baseline_created": self.baseline_created,
            "current_created": self.current_created,
            "counts": self.counts(),
            "failures": self.failures,
            "cases": [c.to_dict() for c in self.cases],
            "gates": self.gates,
            "machine": self.machine.to_dict() if self.machine else None,
            "environment": {
                "allowed_mismatch": self.allow_env_mismatch,
                "differences": [d.to_dict() for d in self.environment],
            },
        }


def compare_results(
    baseline: dict[str, Any],
    current: dict[str, Any],
    *,
    max_regression: float = 0.10,
    metric: str | None = None,
    confidence: float = 0.95,
    seed: int = 0,
    n_boot: int = 2000,
    allow_env_mismatch: bool = False,
    max_accuracy_drop: float | None = 1.0,
    max_size_growth: float | None = None,
    strict: bool = False,
    machine_check: bool = True,
) -> Comparison:
    """Compare two results dicts (from `load_results`). Raises EnvironmentMismatchError on different hardware or
    runtime versions unless `allow_env_mismatch`; a different suite is an InvalidInputError.

    max_regression: allowed slowdown as a fraction (0.10 = 10%). metric: the latency statistic (default: the
    suite's). max_accuracy_drop: top-1 points a case may lose against the baseline (None: not checked).
    max_size_growth: fraction a model file may grow (None: not checked). strict: inconclusive counts as failure.
    machine_check: report slowdowns as inconclusive when the reference workload shows the machine itself ran
    more than max_regression/2 slower than at baseline (needs the reference in both files).
    """
    if not 0 <= max_regression < 10:
        raise InvalidInputError(f"max regression must be a fraction between 0 and 10 (0.1 = 10%), got {max_regression}")
    metric = check_metric(metric or current.get("metric") or DEFAULT_METRIC)
    b_name, c_name = baseline["suite"].get("name"), current["suite"].get("name")
    if b_name != c_name:
        raise InvalidInputError(f"the results come from different suites: baseline '{b_name}', current '{c_name}'")
    env = environment_diff(baseline["environment"], current["environment"])
    critical = [d for d in env if d.critical]
    if critical and not allow_env_mismatch:
        listed = "; ".join(f"{d.field}: {d.baseline} -> {d.current}" for d in critical)
        raise EnvironmentMismatchError(
            f"baseline and current ran in different environments ({listed}); latencies are not "
            f"comparable. Re-record the baseline on this machine, or pass --allow-env-mismatch"
        )
    refs = (baseline.get("reference"), current.get("reference"))
    machine = (
        bootstrap_ratio(
            refs[0]["rounds_ms"], refs[1]["rounds_ms"], metric=metric, confidence=confidence, seed=seed, n_boot=n_boot
        )
        if machine_check and all(r is not None for r in refs)
        else None
    )
    current_cases = {c["id"]: c for c in current["cases"]}
    baseline_ids = {c["id"] for c in baseline["cases"]}
    cases: list[CaseComparison] = []
    for i, base in enumerate(baseline["cases"]):
        cur = current_cases.get(base["id"])
        if cur is None:
            cases.append(
                CaseComparison(base["id"], "missing", "the case is in the baseline but not in the current results")
            )
            continue
        cases.append(
            _compare_case(
                base,
                cur,
                machine,
                metric=metric,
                max_regression=max_regression,
                confidence=confidence,
                seed=seed + i,
                n_boot=n_boot,
                max_accuracy_drop=max_accuracy_drop,
                max_size_growth=max_size_growth,
            )
        )
    cases += [
        CaseComparison(c["id"], "new", "not in the baseline; record a new baseline to track it")
        for c in current["cases"]
        if c["id"] not in baseline_ids
    ]
    return Comparison(
        suite=c_name,
        metric=metric,
        max_regression=max_regression,
        confidence=confidence,
        cases=cases,
        gates=list(current.get("gates") or []),
        environment=env,
        allow_env_mismatch=allow_env_mismatch,
        strict=strict,
        machine=machine,
        baseline_created=baseline.get("created"),
        current_created=current.get("created"),
    )


def _compare_case(
    base: dict[str, Any],
    cur: dict[str, Any],
    machine: RatioEstimate | None,
    *,
    metric: str,
    max_regression: float,
    confidence: float,
    seed: int,
    n_boot: int,
    max_accuracy_drop: float | None,
    max_size_growth: float | None,
) -> CaseComparison:
    est = bootstrap_ratio(
        base["rounds_ms"], cur["rounds_ms"], metric=metric, confidence=confidence, seed=seed, n_boot=n_boot
    )
    decision = _decision(est, machine, max_regression=max_regression)
    changed = base["artifact"].get("sha256") != cur["artifact"].get("sha256")
    result = CaseComparison(cur["id"], decision.verdict, decision.reason, decision.suggestion, est, changed)
    b_acc, c_acc = (base.get("accuracy") or {}).get("top1"), (cur.get("accuracy") or {}).get("top1")
    if b_acc is not None and c_acc is not None:
        result.notes.append(f"top-1 {b_acc:.2f}% -> {c_acc:.2f}%")
        if max_accuracy_drop is not None and b_acc - c_acc > max_accuracy_drop:
            result.verdict, result.reason = (
                "accuracy",
                f"top-1 dropped {b_acc - c_acc:.2f} points (max {max_accuracy_drop:g}); latency: {decision.reason}",
            )
    b_size, c_size = base["artifact"].get("bytes"), cur["artifact"].get("bytes")
    if b_size and c_size and b_size != c_size:
        growth = c_size / b_size - 1
        result.notes.append(f"model file {growth:+.1%} ({b_size / 1e6:.3f} -> {c_size / 1e6:.3f} MB)")
        if max_size_growth is not None and growth > max_size_growth and not result.failed:
            result.verdict, result.reason = (
                "size",
                f"model file grew {growth:.1%} (max {max_size_growth:.0%}); latency: {decision.reason}",
            )
    return result


def _decision(est: RatioEstimate, machine: RatioEstimate | None, *, max_regression: float) -> Decision:
    """The interval decides; a regression measured while the machine itself ran clearly slower is inconclusive."""
    decision = decide(est, max_regression=max_regression)
    if decision.verdict == "regression" and machine is not None and machine.low > 1 + max_regression / 2:
        return Decision(
            "inconclusive",
            f"{decision.reason}, but the machine itself ran {machine.ratio - 1:+.0%} slower than at baseline "
            f"(reference workload, interval {machine.low:.3f}-{machine.high:.3f})",
            "rerun when the machine is quieter (or on a dedicated runner)",
        )
    return decision

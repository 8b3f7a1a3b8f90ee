"""Acceptance self-test of `edgecnn bench compare`: does it catch a real 20% slowdown every time and stay
quiet on noise, on this (shared, noisy) machine?

1. Build the CI suite's models once (lenet5 and smallcnn, fp32, ONNX Runtime, 1 thread) and record a
   baseline run with the ci-small protocol (12 interleaved rounds; 2 s per case instead of 3 to fit the
   time budget), the reference workload timed alongside as in every run.
2. Alternate clean runs and slowed runs (C S C S ..., so machine drift hits both alike), N of each. In a
   slowed run one case (lenet5) gets a calibrated busy-wait after every inference equal to 20% of its
   baseline latency statistic (the default metric, p10): exactly a 20% slowdown of what is judged.
3. Compare every run with the baseline at a 10% threshold, exactly as `edgecnn bench compare` does.
   Detection rate: slowed case flagged "regression". False alarms: any unslowed case flagged.
   The same runs are also judged without the machine check and with p50 and mean, to show why the
   defaults are what they are.

Run:  flock /tmp/edgecnn-bench.lock .venv/bin/python benchmarks/bench_selftest.py [--runs 20]
Writes benchmarks/results/bench_selftest.json and .md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import yaml
from output import add_write_results, output_dir  # benchmarks/output.py: out/ unless --write-results

from edgecnn.bench.compare import compare_results
from edgecnn.bench.results import write_results
from edgecnn.bench.runner import run_suite
from edgecnn.bench.stats import DEFAULT_METRIC, metric_value
from edgecnn.bench.suite import load_suite, parse_suite
from edgecnn.fileio import atomic_write_text

ROOT = Path(__file__).resolve().parent
SLOWED = "lenet5"
SLOWDOWN = 0.20
THRESHOLD = 0.10
METRICS = (DEFAULT_METRIC, "p50", "mean")
# (label, metric, machine check by the reference workload)
JUDGES = (
    (f"{DEFAULT_METRIC} + machine check", DEFAULT_METRIC, True),
    (f"{DEFAULT_METRIC} alone", DEFAULT_METRIC, False),
    ("p50 + machine check", "p50", True),
    ("mean + machine check", "mean", True),
)
DEFAULT_JUDGE = JUDGES[0][0]


class BusyWait:
    """Adds a fixed busy-wait after each inference: a slowdown that behaves like extra compute (no sleep,
    so the core stays busy and the scheduler sees the same load)."""

    def __init__(self, session, delay_s: float) -> None:
        self.session, self.delay_s = session, delay_s
        self.options = getattr(session, "options", None)

    def run(self, inputs):
        out = self.session.run(inputs)
        end = time.perf_counter() + self.delay_s
        while time.perf_counter() < end:
            pass
        return out

    def describe(self):
        return {**self.session.describe(), "injected_delay_ms": self.delay_s * 1e3}


def build_suite(work: Path, *, seconds: float):
    """The CI suite's models as fixed ONNX files, so every run times the very same files."""
    import torch

    from edgecnn.exporters.onnx import export_onnx
    from edgecnn.zoo.loader import load_model

    ci = load_suite(ROOT / "suites" / "ci-small.yaml")
    torch.manual_seed(0)
    cases = []
    for name in ("lenet5", "smallcnn"):
        export_onnx(load_model(name, weights="random"), work / f"{name}.onnx", dynamic_batch=True)
        cases.append({"artifact": f"{name}.onnx", "name": name, "threads": 1})
    protocol = {**ci.protocol.to_dict(), "min_seconds": seconds}
    definition = {"name": "selftest", "protocol": protocol, "metric": ci.metric, "cases": cases}
    (work / "selftest.yaml").write_text(yaml.safe_dump(definition))
    return parse_suite(definition, base_dir=work, path=work / "selftest.yaml")


def slow_one(case_name: str, delay_s: float):
    return lambda case, session: BusyWait(session, delay_s) if case.name == case_name else session


def judge(baseline, run, *, slowed: bool) -> dict:
    out = {}
    for label, metric, machine_check in JUDGES:
        cmp = compare_results(baseline, run, max_regression=THRESHOLD, metric=metric, machine_check=machine_check)
        verdicts = {c.id.split("/")[0]: c.verdict for c in cmp.cases}
        ratios = {
            c.id.split("/")[0]: [round(e.ratio, 4), round(e.low, 4), round(e.high, 4)]
            for c in cmp.cases
            for e in [c.estimate]
        }
        out[label] = {
            "verdicts": verdicts,
            "ratios": ratios,
            "machine": round(cmp.machine.ratio, 4) if cmp.machine else None,
            "detected": verdicts[SLOWED] == "regression" if slowed else None,
            "false_alarm": any(v == "regression" for k, v in verdicts.items() if not (slowed and k == SLOWED)),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="clean runs and slowed runs, each")
    ap.add_argument("--out", type=Path, default=None, help="default: bench_selftest.json in the output folder")
    ap.add_argument("--seconds", type=float, default=2.0, help="timed seconds per case per run (ci-small uses 3)")
    ap.add_argument("--raw-dir", type=Path, default=None, help="also keep every run's results file here")
    add_write_results(ap)
    args = ap.parse_args()
    args.out = args.out or output_dir(args) / "bench_selftest.json"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        suite = build_suite(Path(tmp), seconds=args.seconds)
        baseline = run_suite(suite, progress=False)
        if args.raw_dir:
            write_results(baseline, args.raw_dir / "baseline.json")
        times = {c["config"]["name"]: [t for r in c["rounds_ms"] for t in r] for c in baseline["cases"]}
        delay_ms = SLOWDOWN * metric_value(times[SLOWED], DEFAULT_METRIC)
        runs = []
        for i in range(2 * args.runs):
            slowed = i % 2 == 1
            result = run_suite(suite, progress=False, wrap_session=slow_one(SLOWED, delay_ms / 1e3) if slowed else None)
            runs.append(
                {
                    "slowed": slowed,
                    "judged": judge(baseline, result, slowed=slowed),
                    "values_ms": {
                        c["config"]["name"]: {
                            m: metric_value([t for r in c["rounds_ms"] for t in r], m) for m in METRICS
                        }
                        for c in result["cases"]
                    },
                }
            )
            if args.raw_dir:
                write_results(result, args.raw_dir / f"run{i:02d}.json")
            print(
                f"run {i + 1}/{2 * args.runs} {'slowed' if slowed else 'clean '}: "
                + ", ".join(f"{label} {runs[-1]['judged'][label]['verdicts']}" for label, _, _ in JUDGES[:2]),
                flush=True,
            )
    summary = {}
    for label, _, _ in JUDGES:
        slowed_runs = [r["judged"][label] for r in runs if r["slowed"]]
        clean_runs = [r["judged"][label] for r in runs if not r["slowed"]]
        clean_cases = [v for r in clean_runs for v in r["verdicts"].values()]
        summary[label] = {
            "detected": sum(r["detected"] for r in slowed_runs),
            "slowed_runs": len(slowed_runs),
            "false_alarm_runs": sum(r["false_alarm"] for r in clean_runs),
            "clean_runs": len(clean_runs),
            "false_alarms_in_slowed_runs_other_case": sum(r["false_alarm"] for r in slowed_runs),
            "clean_case_verdicts": {v: clean_cases.count(v) for v in sorted(set(clean_cases))},
            "slowed_case_verdicts": {
                v: [r["verdicts"][SLOWED] for r in slowed_runs].count(v)
                for v in sorted({r["verdicts"][SLOWED] for r in slowed_runs})
            },
        }
    base_values = {
        c["config"]["name"]: {m: metric_value([t for r in c["rounds_ms"] for t in r], m) for m in METRICS}
        for c in baseline["cases"]
    }
    report = {
        "slowed_case": SLOWED,
        "slowdown": SLOWDOWN,
        "injected_delay_ms": delay_ms,
        "threshold": THRESHOLD,
        "default_metric": DEFAULT_METRIC,
        "default_judge": DEFAULT_JUDGE,
        "protocol": suite.protocol.to_dict(),
        "runs_each": args.runs,
        "seconds": round(time.perf_counter() - start, 1),
        "environment": baseline["environment"],
        "baseline_values_ms": base_values,
        "summary": summary,
        "runs": runs,
    }
    atomic_write_text(args.out, json.dumps(report, indent=1) + "\n")
    atomic_write_text(args.out.with_suffix(".md"), markdown(report))
    print(markdown(report))


def markdown(rep: dict) -> str:
    lines = [
        f"# bench self-test: {rep['slowdown']:.0%} slowdown injected into `{rep['slowed_case']}`, "
        f"threshold {rep['threshold']:.0%}",
        "",
        f"{rep['runs_each']} clean and {rep['runs_each']} slowed runs, alternating, "
        "each compared with one baseline run "
        f"(protocol: {rep['protocol']['rounds']} interleaved rounds, "
        f"{rep['protocol']['min_seconds']} s per case). "
        f"Injected busy-wait: {rep['injected_delay_ms'] * 1e3:.1f} µs per inference "
        f"= 20% of the baseline {rep['default_metric']}. "
        f"Took {rep['seconds']:.0f} s on {rep['environment']['cpu']} "
        f"({rep['environment']['cores']} cores, shared).",
        "",
        "| "
        + " | ".join(
            [
                "judged by",
                "detected (slowed runs)",
                "false alarms (clean runs)",
                "other case flagged in slowed runs",
                "clean-case verdicts",
            ]
        )
        + " |",
        "|---|---:|---:|---:|---|",
    ]
    for label, s in rep["summary"].items():
        lines.append(
            f"| {label}{' (default)' if label == rep['default_judge'] else ''} | "
            f"{s['detected']}/{s['slowed_runs']} | "
            f"{s['false_alarm_runs']}/{s['clean_runs']} | "
            f"{s['false_alarms_in_slowed_runs_other_case']}/{s['slowed_runs']} | "
            f"{', '.join(f'{k} {v}' for k, v in s['clean_case_verdicts'].items())} |"
        )
    base = rep["baseline_values_ms"][rep["slowed_case"]]
    lines += [
        "",
        f"The delay is 20% of the {rep['default_metric']}; "
        f"measured against the baseline p50 ({base['p50'] * 1e3:.1f} µs) it is "
        f"{rep['injected_delay_ms'] / base['p50']:.0%}, so the p50 and mean rows judge a smaller relative slowdown.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""compare_results on synthetic results files: verdicts, missing cases, environment mismatch, gates."""

from __future__ import annotations

import copy

import pytest

from edgecnn.bench.compare import EnvironmentMismatchError, compare_results, environment_diff
from edgecnn.errors import InvalidInputError

A, B = "lenet5/fp32/onnxruntime/b1/t1", "smallcnn/fp32/onnxruntime/b1/t1"


def _slow(rounds, factor):
    return [[t * factor for t in r] for r in rounds]


@pytest.fixture
def pair(synth):
    base = synth.results([synth.case(A, synth.rounds(0.05, seed=1)), synth.case(B, synth.rounds(0.3, seed=2))])
    cur = synth.results([synth.case(A, synth.rounds(0.05, seed=3)), synth.case(B, synth.rounds(0.3, seed=4))])
    return base, cur


def test_noise_passes(pair):
    cmp = compare_results(*pair)
    assert cmp.passed and [c.verdict for c in cmp.cases] == ["pass", "pass"]


def test_regression_in_one_case_fails_only_that_case(pair, synth):
    base, cur = pair
    cur["cases"][1] = synth.case(B, _slow(synth.rounds(0.3, seed=4), 1.25))
    cmp = compare_results(base, cur, max_regression=0.10)
    assert [c.verdict for c in cmp.cases] == ["pass", "regression"]
    assert not cmp.passed and B in cmp.failures[0]


def test_missing_and_new_cases_are_reported(pair, synth):
    base, cur = pair
    cur["cases"] = [cur["cases"][0], synth.case("resnet18/fp32/onnxruntime/b1/t1", synth.rounds(5.0))]
    cmp = compare_results(base, cur)
    verdicts = {c.id: c.verdict for c in cmp.cases}
    assert verdicts[B] == "missing" and verdicts["resnet18/fp32/onnxruntime/b1/t1"] == "new"
    assert not cmp.passed and any("missing" in f for f in cmp.failures)


def test_inconclusive_passes_unless_strict(synth):
    base = synth.results([synth.case(A, synth.rounds(0.05, rounds=2))])
    cur = synth.results([synth.case(A, synth.rounds(0.05, rounds=2, seed=5))])
    assert compare_results(base, cur).cases[0].verdict == "inconclusive"
    assert compare_results(base, cur).passed
    assert not compare_results(base, cur, strict=True).passed


def test_environment_mismatch_needs_the_flag(pair):
    base, cur = pair
    cur["environment"]["cpu"] = "Other CPU"
    cur["environment"]["versions"]["onnxruntime"] = "1.20.0"
    with pytest.raises(EnvironmentMismatchError, match="cpu.*onnxruntime.*--allow-env-mismatch"):
        compare_results(base, cur)
    cmp = compare_results(base, cur, allow_env_mismatch=True)
    assert {d.field for d in cmp.environment if d.critical} == {"cpu", "versions.onnxruntime"}


def test_cores_and_flags_are_critical_but_python_is_not(synth):
    env = copy.deepcopy(synth.env)
    env.update(cores=8, flags=["avx2", "fma", "avx512f"], python="3.12.1")
    diffs = {d.field: d.critical for d in environment_diff(synth.env, env)}
    assert diffs == {"cores": True, "flags": True, "python": False}


ARM = {"cpu": "aarch64", "arch": "aarch64", "flags": ["asimd"], "cores": 4}


def test_microarch_tells_arm_machines_apart_and_old_baselines_still_compare(synth):
    n1 = {**synth.env, **ARM, "microarch": {"name": "neoverse_n1", "vendor": "ARM", "generation": 0}}
    v1 = {**n1, "microarch": {"name": "neoverse_v1", "vendor": "ARM", "generation": 0}}
    assert [(d.field, d.baseline, d.current, d.critical) for d in environment_diff(n1, v1)] == [
        ("microarch", "neoverse_n1", "neoverse_v1", True)
    ]
    cases = [synth.case(A, synth.rounds(0.05, seed=1))]
    base, cur = synth.results(cases, env=n1), synth.results(cases, env=v1)
    with pytest.raises(EnvironmentMismatchError, match="microarch: neoverse_n1 -> neoverse_v1"):
        compare_results(base, cur)
    # a baseline stored before the field existed: no difference, the comparison runs
    old = {k: v for k, v in n1.items() if k != "microarch"}
    assert environment_diff(old, v1) == [] and environment_diff(v1, old) == []
    assert compare_results(synth.results(cases, env=old), cur).environment == []
    # archspec did not know one CPU ("generic"): reported, not critical (a newer archspec may name it)
    generic = {**n1, "microarch": {"name": "aarch64", "vendor": "generic", "generation": 0}}
    assert [(d.field, d.critical) for d in environment_diff(generic, n1)] == [("microarch", False)]


def test_different_suites_are_an_error(pair):
    base, cur = pair
    cur["suite"]["name"] = "other"
    with pytest.raises(InvalidInputError, match="different suites"):
        compare_results(base, cur)


def test_accuracy_drop_and_size_growth_against_the_baseline(synth):
    base = synth.results([synth.case(A, synth.rounds(0.05), top1=97.0, nbytes=100_000)])
    cur = synth.results([synth.case(A, synth.rounds(0.05, seed=9), top1=94.5, nbytes=100_000)])
    assert compare_results(base, cur).cases[0].verdict == "accuracy"
    assert compare_results(base, cur, max_accuracy_drop=3.0).passed
    bigger = synth.results([synth.case(A, synth.rounds(0.05, seed=9), nbytes=130_000)])
    assert compare_results(base, bigger, max_size_growth=0.05).cases[0].verdict == "size"
    assert "+30.0%" in compare_results(base, bigger).cases[0].notes[0]


def test_failed_gate_of_the_current_run_fails_the_comparison(pair):
    base, cur = pair
    cur["gates"] = [
        {
            "name": "lenet5/int8 at least 1x faster than fp32",
            "type": "speedup",
            "case": A,
            "reference": None,
            "threshold": 1.0,
            "value": 0.7,
            "ci": [0.6, 0.8],
            "verdict": "fail",
            "reason": "0.70x faster",
        }
    ]
    cmp = compare_results(base, cur)
    assert not cmp.passed and "gate" in cmp.failures[0]


def test_bad_threshold_and_metric(pair):
    with pytest.raises(InvalidInputError, match="max regression"):
        compare_results(*pair, max_regression=-0.1)
    with pytest.raises(InvalidInputError, match="unknown metric"):
        compare_results(*pair, metric="median")


def _with_reference(results, rounds):
    results["reference"] = {"id": "reference-workload", "description": "test", "rounds_ms": rounds}
    return results


def test_slowdown_on_a_busier_machine_is_inconclusive_not_a_regression(synth):
    """The whole current run 40% slower, the reference workload too: the machine was busy, not the model slow."""
    base = _with_reference(synth.results([synth.case(A, synth.rounds(0.3, seed=1))]), synth.rounds(0.2, seed=2))
    cur = _with_reference(
        synth.results([synth.case(A, _slow(synth.rounds(0.3, seed=3), 1.4))]), _slow(synth.rounds(0.2, seed=4), 1.4)
    )
    cmp = compare_results(base, cur)
    assert cmp.cases[0].verdict == "inconclusive" and "the machine itself ran" in cmp.cases[0].reason
    assert cmp.machine.ratio == pytest.approx(1.4, rel=0.05) and cmp.passed
    assert compare_results(base, cur, machine_check=False).cases[0].verdict == "regression"


def test_a_regression_on_a_steady_machine_is_flagged(synth):
    base = _with_reference(synth.results([synth.case(A, synth.rounds(0.3, seed=1))]), synth.rounds(0.2, seed=2))
    cur = _with_reference(
        synth.results([synth.case(A, _slow(synth.rounds(0.3, seed=3), 1.3))]), synth.rounds(0.2, seed=4)
    )
    cmp = compare_results(base, cur)
    assert cmp.cases[0].verdict == "regression" and not cmp.passed

"""Fidelity and units (edgecnn.metrics) against hand-computed values."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.metrics import Fidelity, cosine_similarity, kl_divergence, measure_fidelity, size_ratio, sqnr_db


def test_sqnr_cosine_kl():
    ref = np.array([[3.0, 4.0]])
    assert sqnr_db(ref, ref) == float("inf")
    assert sqnr_db(ref, ref * 1.1) == pytest.approx(20.0)  # noise is 10% of the signal amplitude
    assert cosine_similarity(ref, 2 * ref) == pytest.approx(1.0)
    assert cosine_similarity(ref, -ref) == pytest.approx(-1.0)
    assert kl_divergence(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(ref, ref[:, ::-1]) > 0


def test_fidelity_agreement_and_overlap_are_fractions():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((50, 10))
    same = measure_fidelity(ref, ref)
    assert same.top1_agreement == 1.0 and same.top5_overlap == 1.0 and same.cosine == pytest.approx(1.0)
    assert same.max_abs_error == 0.0 and same.samples == 50
    shuffled = Fidelity.measure(ref, rng.standard_normal((50, 10)))
    assert 0.0 <= shuffled.top1_agreement < 0.4 and shuffled.sqnr_db < 3
    half = ref.copy()
    half[:25] = -half[:25]  # the arg-max of a negated row moves (10 classes, distinct values)
    assert measure_fidelity(ref, half).top1_agreement == pytest.approx(0.5)
    with pytest.raises(InvalidInputError, match="shape"):
        measure_fidelity(ref, ref[:, :5])


def test_fidelity_errors_by_hand():
    ref = np.array([[1.0, -4.0], [2.0, 0.5]])
    out = ref + np.array([[0.0, 0.2], [-0.1, 0.0]])
    f = measure_fidelity(ref, out)
    assert f.max_abs_error == pytest.approx(0.2) and f.max_rel_error == pytest.approx(0.2 / 4.0)
    assert f.top1_agreement == 1.0


def test_fidelity_without_class_logits_has_no_agreement():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4))
    f = measure_fidelity(x, x + 0.01)
    assert f.top1_agreement is None and f.kl is None and f.max_abs_error == pytest.approx(0.01)
    single = measure_fidelity(np.array([0.1, 0.9]), np.array([0.1, 0.9]))  # one sample of logits
    assert single.samples == 1 and single.top1_agreement == 1.0


def test_to_dict_round_trip_and_json():
    f = measure_fidelity(np.eye(4), np.eye(4) * 0.9)
    d = f.to_dict()
    assert set(d) >= {"top1_agreement", "sqnr_db", "max_abs_error", "max_rel_error", "samples"}
    assert Fidelity.from_dict(json.loads(json.dumps(d))) == f


def test_size_ratio_is_optimized_over_baseline():
    assert size_ratio(25, 100) == 0.25
    assert size_ratio(None, 100) is None and size_ratio(25, 0) is None


def test_metrics_is_core_no_torch():
    code = "import sys, edgecnn.metrics; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_flat_outputs_only_on_evidence():
    from edgecnn.metrics import flat_outputs

    rng = np.random.default_rng(0)
    varied = rng.standard_normal((32, 10))
    assert flat_outputs(varied) is None
    near_flat = np.ones((32, 10)) + 1e-6 * rng.standard_normal((32, 10))
    assert "near-flat" in flat_outputs(near_flat)
    one_class = rng.standard_normal((32, 10)) * 0.1
    one_class[:, 3] += 5.0
    assert "one class" in flat_outputs(one_class)

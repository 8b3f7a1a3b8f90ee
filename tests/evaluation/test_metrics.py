"""Accuracy and fidelity metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.evaluation.metrics import accuracy, cosine_similarity, fidelity, kl_divergence, sqnr_db, topk_accuracy


def test_topk_accuracy():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    labels = np.array([1, 2, 0])
    assert topk_accuracy(logits, labels, 1) == pytest.approx(100 / 3)
    assert topk_accuracy(logits, labels, 2) == pytest.approx(100 / 3)  # row 2 top-2 is {0, 1}, row 3 top-2 is {2, 1}
    assert topk_accuracy(logits, labels, 3) == 100.0
    assert set(accuracy(np.eye(10)[[0, 1]], np.array([0, 1]))) == {"top1", "top5"}
    assert set(accuracy(logits, labels)) == {"top1"}  # top-5 is meaningless with 3 classes
    with pytest.raises(InvalidInputError, match="labels"):
        topk_accuracy(logits, labels[:2])


def test_sqnr_cosine_kl():
    ref = np.array([[3.0, 4.0]])
    assert sqnr_db(ref, ref) == float("inf")
    assert sqnr_db(ref, ref * 1.1) == pytest.approx(20.0)  # noise is 10% of the signal amplitude
    assert cosine_similarity(ref, 2 * ref) == pytest.approx(1.0)
    assert cosine_similarity(ref, -ref) == pytest.approx(-1.0)
    assert kl_divergence(ref, ref) == pytest.approx(0.0, abs=1e-12)
    assert kl_divergence(ref, ref[:, ::-1]) > 0


def test_fidelity_agreement_and_overlap():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((50, 10))
    same = fidelity(ref, ref)
    assert same["top1_agreement"] == 100.0 and same["top5_overlap"] == 100.0 and same["cosine"] == pytest.approx(1.0)
    shuffled = fidelity(ref, rng.standard_normal((50, 10)))
    assert shuffled["top1_agreement"] < 40 and shuffled["sqnr_db"] < 3
    with pytest.raises(InvalidInputError, match="shape"):
        fidelity(ref, ref[:, :5])

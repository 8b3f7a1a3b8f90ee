"""Accuracy metrics against hand-computed values (fidelity: tests/test_metrics.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.evaluation.metrics import accuracy, topk_accuracy


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

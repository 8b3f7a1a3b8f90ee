"""Accuracy against labels, on logits (numpy only). Fidelity against a reference is `edgecnn.metrics.Fidelity`."""

from __future__ import annotations

import numpy as np

from edgecnn.errors import InvalidInputError


def topk_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Percentage of samples whose label is among the k highest logits."""
    logits, labels = _logits(logits), np.asarray(labels).reshape(-1)
    if len(logits) != len(labels):
        raise InvalidInputError(f"{len(logits)} predictions but {len(labels)} labels")
    k = min(k, logits.shape[1])
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float(100.0 * np.mean(np.any(top == labels[:, None], axis=1)))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """top-1 and top-5 accuracy in percent (top-5 only when there are more than 5 classes)."""
    out = {"top1": topk_accuracy(logits, labels, 1)}
    if _logits(logits).shape[1] > 5:
        out["top5"] = topk_accuracy(logits, labels, 5)
    return out


def _logits(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None]
    return arr.reshape(len(arr), -1)

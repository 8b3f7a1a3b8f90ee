"""Accuracy against labels and fidelity against a float reference, on logits (numpy only)."""

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


def sqnr_db(reference: np.ndarray, output: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - out)^2); inf when identical."""
    ref, out = np.asarray(reference, np.float64), np.asarray(output, np.float64)
    noise = float(np.sum((ref - out) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return float("inf")
    return 10.0 * float(np.log10(max(signal, 1e-30) / noise))


def cosine_similarity(reference: np.ndarray, output: np.ndarray) -> float:
    """Mean cosine similarity between per-sample reference and output vectors."""
    ref, out = _logits(reference).astype(np.float64), _logits(output).astype(np.float64)
    num = np.sum(ref * out, axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    return float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)))


def kl_divergence(reference: np.ndarray, output: np.ndarray) -> float:
    """Mean KL(softmax(ref) || softmax(out)) in nats: how far the predicted distributions moved."""
    p, q = _softmax(_logits(reference)), _softmax(_logits(output))
    return float(np.mean(np.sum(p * (np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(q, 1e-12))), axis=1)))


def fidelity(reference: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """How closely `output` follows `reference` without labels: top-1 agreement, top-5 overlap, SQNR, cosine, KL."""
    ref, out = _logits(reference), _logits(output)
    if ref.shape != out.shape:
        raise InvalidInputError(f"reference outputs {ref.shape} and outputs {out.shape} differ in shape")
    k = min(5, ref.shape[1])
    top_ref = np.argsort(-ref, axis=1)[:, :k]
    top_out = np.argsort(-out, axis=1)[:, :k]
    overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(top_ref, top_out)])
    return {
        "top1_agreement": float(100.0 * np.mean(top_ref[:, 0] == top_out[:, 0])),
        f"top{k}_overlap": float(100.0 * overlap),
        "sqnr_db": sqnr_db(ref, out),
        "cosine": cosine_similarity(ref, out),
        "kl": kl_divergence(ref, out),
        "samples": int(len(ref)),
    }


def _logits(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr[None]
    return arr.reshape(len(arr), -1)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64) - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)

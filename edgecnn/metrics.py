"""Fidelity and units: how closely a model's outputs follow a reference's on the same inputs (numpy only).

One definition of each measurement, one unit for each, everywhere:

- `top1_agreement` and `top5_overlap` are FRACTIONS in [0, 1] (print them with `f"{x:.1%}"`); a gate whose
  threshold is in points of accuracy converts explicitly where it compares (`100 * (1 - agreement)`).
- `sqnr_db` in dB (inf when identical), `max_abs_error` in output units, `max_rel_error` relative to max |ref|.
- `size_ratio` is optimized / baseline (< 1: the optimized artifact is smaller).

Core layer: imports numpy and core edgecnn modules only (no torch), so every stage can use it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecnn.errors import InvalidInputError

__all__ = ["Fidelity", "measure_fidelity", "sqnr_db", "cosine_similarity", "kl_divergence", "size_ratio"]


@dataclass(frozen=True)
class Fidelity:
    """Agreement of `outputs` with `reference` on the same inputs. Class metrics are None for non-logit outputs."""

    samples: int
    max_abs_error: float
    max_rel_error: float
    sqnr_db: float
    cosine: float | None = None
    top1_agreement: float | None = None  # fraction in [0, 1]
    top5_overlap: float | None = None  # fraction in [0, 1]; top-k with k = min(5, classes)
    kl: float | None = None  # mean KL(softmax(ref) || softmax(out)) in nats

    @classmethod
    def measure(cls, reference: Any, outputs: Any) -> Fidelity:
        """Compare per-sample outputs (first axis = samples; a 1-D array is one sample of logits)."""
        ref, out = np.asarray(reference), np.asarray(outputs)
        if ref.shape != out.shape:
            raise InvalidInputError(f"reference outputs {ref.shape} and outputs {out.shape} differ in shape")
        ref64, out64 = ref.astype(np.float64), out.astype(np.float64)
        abs_err = float(np.max(np.abs(ref64 - out64))) if ref.size else 0.0
        scale = float(np.max(np.abs(ref64))) if ref.size else 0.0
        common: dict[str, Any] = {
            "samples": int(len(ref)) if ref.ndim > 1 else 1,
            "max_abs_error": abs_err,
            "max_rel_error": abs_err / scale if scale > 0 else abs_err,
            "sqnr_db": sqnr_db(ref64, out64),
        }
        if ref.size == 0:
            return cls(**common)
        common["cosine"] = cosine_similarity(ref64, out64)
        r2, o2 = _per_sample(ref64), _per_sample(out64)
        if ref.ndim > 2 or r2.shape[1] < 2:  # not class logits: agreement would not mean anything
            return cls(**common)
        k = min(5, r2.shape[1])
        top_ref = np.argsort(-r2, axis=1, kind="stable")[:, :k]
        top_out = np.argsort(-o2, axis=1, kind="stable")[:, :k]
        overlap = np.mean([len(set(a) & set(b)) / k for a, b in zip(top_ref, top_out)])
        return cls(
            **common,
            top1_agreement=float(np.mean(r2.argmax(1) == o2.argmax(1))),
            top5_overlap=float(overlap),
            kl=kl_divergence(r2, o2),
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fidelity:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def measure_fidelity(reference: Any, outputs: Any) -> Fidelity:
    """`Fidelity.measure(reference, outputs)`: the one way to compare a model's outputs with its reference."""
    return Fidelity.measure(reference, outputs)


def sqnr_db(reference: np.ndarray, output: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(sum ref^2 / sum (ref - out)^2); inf when identical."""
    ref, out = np.asarray(reference, np.float64), np.asarray(output, np.float64)
    noise = float(np.sum((ref - out) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0.0:
        return math.inf
    return 10.0 * float(np.log10(max(signal, 1e-30) / noise))


def cosine_similarity(reference: np.ndarray, output: np.ndarray) -> float:
    """Mean cosine similarity between per-sample reference and output vectors."""
    ref, out = _per_sample(np.asarray(reference, np.float64)), _per_sample(np.asarray(output, np.float64))
    num = np.sum(ref * out, axis=1)
    den = np.linalg.norm(ref, axis=1) * np.linalg.norm(out, axis=1)
    return float(np.mean(np.where(den > 0, num / np.maximum(den, 1e-30), 1.0)))


def kl_divergence(reference: np.ndarray, output: np.ndarray) -> float:
    """Mean KL(softmax(ref) || softmax(out)) in nats: how far the predicted distributions moved."""
    p, q = _softmax(_per_sample(np.asarray(reference))), _softmax(_per_sample(np.asarray(output)))
    return float(np.mean(np.sum(p * (np.log(np.maximum(p, 1e-12)) - np.log(np.maximum(q, 1e-12))), axis=1)))


def flat_outputs(reference: Any) -> str | None:
    """Why agreement on these reference outputs would mean nothing (None: it means something).

    Untrained networks give near-identical logits for every input: one class wins everywhere and any
    quantization error flips it or not by chance. Only that evidence makes a figure "not meaningful".
    """
    ref = _per_sample(np.asarray(reference, dtype=np.float64))
    if ref.shape[0] < 2 or ref.shape[1] < 2:
        return None
    spread = float(np.std(ref, axis=0).mean())
    scale = float(np.abs(ref).mean()) + 1e-12
    if spread / scale < 1e-3:
        return f"near-flat outputs: they vary by {spread / scale:.1e} of their size across {ref.shape[0]} inputs"
    if np.unique(ref.argmax(axis=1)).size == 1 and ref.shape[0] >= 16:
        return f"the reference predicts one class for all {ref.shape[0]} inputs"
    return None


def size_ratio(optimized_bytes: float | None, baseline_bytes: float | None) -> float | None:
    """Optimized size / baseline size (< 1: smaller); None when either is unknown."""
    if not optimized_bytes or not baseline_bytes:
        return None
    return float(optimized_bytes) / float(baseline_bytes)


def _per_sample(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim <= 1:
        arr = arr.reshape(1, -1)
    return arr.reshape(len(arr), -1)


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64) - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)

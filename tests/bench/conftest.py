"""Synthetic results files (no timing needed); the end-to-end tests time the shared `lenet_onnx_dynamic`."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from edgecnn.bench.results import SCHEMA, SCHEMA_VERSION

ENV = {
    "cpu": "Test CPU 9000",
    "arch": "x86_64",
    "flags": ["avx2", "fma"],
    "cores": 2,
    "memory_gib": 24.0,
    "gpu": None,
    "os": "Linux 6.1",
    "python": "3.11.9",
    "versions": {"onnxruntime": "1.32.0", "numpy": "2.4.6", "torch": "2.14.1"},
    "threads": 1,
}


def synthetic_rounds(
    median_ms: float, *, rounds: int = 12, iters: int = 200, round_jitter: float = 0.03, seed: int = 0
) -> list[list[float]]:
    """Right-skewed iteration times (contention only adds time) with a per-round drift factor."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(rounds):
        drift = 1 + abs(rng.normal(0, round_jitter))
        times = median_ms * drift * (1 + rng.gamma(2.0, 0.03, iters))
        out.append([float(t) for t in times])
    return out


def make_case(
    case_id: str, rounds: list[list[float]], *, top1: float | None = None, nbytes: int = 100_000, sha: str = "a" * 64
) -> dict:
    name, precision, target, b, t = case_id.split("/")
    flat = np.concatenate(rounds)
    return {
        "id": case_id,
        "config": {
            "id": case_id,
            "name": name,
            "precision": precision,
            "target": target,
            "batch": int(b[1:]),
            "threads": int(t[1:]),
            "model": name,
            "weights": "random",
            "artifact": None,
        },
        "artifact": {
            "path": f"/tmp/{name}.onnx",
            "format": "onnx",
            "precision": precision,
            "sha256": sha,
            "bytes": nbytes,
        },
        "session": {"backend": target},
        "latency_ms": {"p50": float(np.median(flat)), "p90": float(np.percentile(flat, 90))},
        "iterations": int(flat.size),
        "rounds_ms": rounds,
        "accuracy": None if top1 is None else {"top1": top1, "dataset": "digits", "samples": 450},
    }


def make_results(cases: list[dict], *, suite: str = "unit", env: dict | None = None, gates: list | None = None) -> dict:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "edgecnn_version": "0.1.0",
        "created": "2026-01-01T00:00:00+00:00",
        "suite": {"name": suite, "path": None, "sha256": None, "definition": {}},
        "protocol": {"rounds": 12},
        "metric": "p10",
        "seed": 0,
        "environment": copy.deepcopy(env or ENV),
        "cases": cases,
        "gates": gates or [],
    }


@pytest.fixture
def synth():
    """The synthetic builders, for test modules (importlib import mode cannot import conftest directly)."""
    from types import SimpleNamespace

    return SimpleNamespace(rounds=synthetic_rounds, case=make_case, results=make_results, env=ENV)

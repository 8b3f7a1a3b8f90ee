"""Per-layer sensitivity to int8 and the accuracy-budget fallback that keeps the worst layers in float.

Every variant is a real QDQ model quantized by ONNX Runtime from the cached calibration ranges and run
on the evaluation inputs, so the numbers are what the deployed model would do, not an estimate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgecnn.errors import InvalidInputError
from edgecnn.evaluation.api import predict
from edgecnn.evaluation.metrics import accuracy
from edgecnn.metrics import measure_fidelity
from edgecnn.progress import track
from edgecnn.quant.ptq import PTQConfig, quantizable_nodes, quantize_qdq
from edgecnn.runtime import load_session

log = logging.getLogger("edgecnn.quant")

Mode = Literal["only", "all_but"]


@dataclass
class Scorer:
    """Scores a model file against fp32 logits (fidelity) and, when labels exist, top-1 accuracy."""

    x: np.ndarray
    reference: np.ndarray
    labels: np.ndarray | None = None
    threads: int | None = None
    # how a candidate runs: as the target checks its int8 models here (`Target.validation`: OpenVINO's on OpenVINO,
    # TensorRT's with Q/DQ simulated in float)
    backend: str = "onnxruntime"
    options: dict[str, Any] = field(default_factory=dict)

    def score(self, path: str | Path) -> dict[str, Any]:
        with load_session(path, backend=self.backend, threads=self.threads, **self.options) as session:
            logits = predict(session, self.x)
        out = measure_fidelity(self.reference, logits).to_dict()
        if self.labels is not None:
            out["top1"] = accuracy(logits, self.labels)["top1"]
        return out

    @property
    def reference_top1(self) -> float | None:
        return accuracy(self.reference, self.labels)["top1"] if self.labels is not None else None


@dataclass(frozen=True)
class Budget:
    """The accuracy budget: a max top-1 drop in points (needs labels), else a min top-1 agreement with fp32.

    min_agreement is a fraction in [0, 1], like `Fidelity.top1_agreement`.
    """

    max_accuracy_drop: float | None = None
    min_agreement: float | None = None

    def __post_init__(self) -> None:
        if self.max_accuracy_drop is not None and self.max_accuracy_drop < 0:
            raise InvalidInputError(f"max_accuracy_drop must be >= 0 points, got {self.max_accuracy_drop}")
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 1:
            raise InvalidInputError(
                f"min_agreement is a fraction in [0, 1] (0.99 means 99% top-1 agreement), got {self.min_agreement}"
            )

    @property
    def active(self) -> bool:
        return self.max_accuracy_drop is not None or self.min_agreement is not None

    def check(self, metrics: dict[str, Any], reference_top1: float | None) -> dict[str, Any]:
        """A gate record {name, threshold, value, passed}; the accuracy drop needs labels."""
        if self.max_accuracy_drop is not None:
            if reference_top1 is None or "top1" not in metrics:
                raise InvalidInputError(
                    "max_accuracy_drop needs labelled evaluation data (eval_data with labels); "
                    "without labels use min_agreement"
                )
            drop = reference_top1 - metrics["top1"]
            return {
                "name": "accuracy_drop_points",
                "threshold": self.max_accuracy_drop,
                "value": drop,
                "passed": drop <= self.max_accuracy_drop,
            }
        value = metrics.get("top1_agreement")
        if value is None:
            raise InvalidInputError("min_agreement needs class logits (outputs of shape [N, classes])")
        return {
            "name": "top1_agreement",
            "threshold": self.min_agreement,
            "value": value,
            "passed": value >= self.min_agreement,
        }


def layer_sensitivity(
    prepared: str | Path,
    calib: np.ndarray,
    config: PTQConfig,
    *,
    cache_path: str | Path,
    scorer: Scorer,
    workdir: str | Path,
    mode: Mode = "only",
    layers: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rank layers by how much int8 hurts them, most sensitive first.

    mode "only": quantize just that layer and measure the error it alone brings (lowest SQNR first).
    mode "all_but": quantize everything except that layer and measure what keeping it in float recovers
    (highest SQNR first).
    """
    if mode not in ("only", "all_but"):
        raise InvalidInputError(f"sensitivity mode must be 'only' or 'all_but', got {mode!r}")
    layers = layers if layers is not None else quantizable_nodes(prepared)
    variant = Path(workdir) / "sensitivity.onnx"
    rows = []

    for name in track(layers, f"sensitivity ({mode})"):
        cfg = (
            config.with_changes(nodes_to_quantize=(name,))
            if mode == "only"
            else config.with_changes(nodes_to_exclude=(*config.nodes_to_exclude, name))
        )
        quantize_qdq(prepared, variant, calib, cfg, cache_path=cache_path)
        metrics = scorer.score(variant)
        rows.append(
            {
                "layer": name,
                **{k: metrics[k] for k in ("sqnr_db", "kl", "top1_agreement") if k in metrics},
                **({"top1": metrics["top1"]} if "top1" in metrics else {}),
            }
        )
    rows.sort(key=lambda r: r["sqnr_db"], reverse=(mode == "all_but"))
    return rows


def accuracy_fallback(
    prepared: str | Path,
    calib: np.ndarray,
    config: PTQConfig,
    *,
    cache_path: str | Path,
    scorer: Scorer,
    budget: Budget,
    workdir: str | Path,
    max_float_layers: int = 8,
) -> tuple[PTQConfig, dict[str, Any]]:
    """Keep the most sensitive layers in float, one more at a time, until the budget holds.

    Returns the config to use (with nodes_to_exclude) and a report with the ranking, each step and the gate.
    """
    variant = Path(workdir) / "fallback.onnx"
    quantize_qdq(prepared, variant, calib, config, cache_path=cache_path)
    ref_top1 = scorer.reference_top1
    gate = budget.check(scorer.score(variant), ref_top1)
    report: dict[str, Any] = {"budget": gate | {"stage": "all layers int8"}, "float_layers": [], "steps": []}
    if gate["passed"]:
        return config, report
    ranking = layer_sensitivity(
        prepared, calib, config, cache_path=cache_path, scorer=scorer, workdir=workdir, mode="only"
    )
    report["sensitivity"] = ranking
    current = config
    for row in ranking[:max_float_layers]:
        current = current.with_changes(nodes_to_exclude=(*current.nodes_to_exclude, row["layer"]))
        quantize_qdq(prepared, variant, calib, current, cache_path=cache_path)
        gate = budget.check(scorer.score(variant), ref_top1)
        report["steps"].append({"float_layers": list(current.nodes_to_exclude), **gate})
        if gate["passed"]:
            break
    report["float_layers"] = [n for n in current.nodes_to_exclude if n not in config.nodes_to_exclude]
    report["budget"] = gate | {"stage": f"{len(report['float_layers'])} layer(s) kept in float"}
    if not gate["passed"]:
        log.warning(
            "accuracy budget not met even with %d layer(s) in float (%s = %.3g, threshold %.3g)",
            len(report["float_layers"]),
            gate["name"],
            gate["value"],
            gate["threshold"],
        )
    return current, report

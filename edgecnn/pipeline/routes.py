"""Route selection by measurement: a target with more than one way to make int8 (OpenVINO: edgecnn's QDQ ONNX
converted to IR, or NNCF on `ov.convert_model` of the PyTorch model) gets every route built, checked against
the float reference and timed interleaved against the QDQ route on the target; the faster route that stays
within the fidelity budget ships, and the report lists both.

Why not trust one route: measured on an AVX-512 VNNI CPU, NNCF's int8 ran about 2x faster than fp32 on
MobileNetV3 and EfficientNet-B0 where the QDQ route gave 1.2x, while on ResNets the two tie.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.errors import first_line
from edgecnn.profiling.compare import compare
from edgecnn.spec import ModelSpec
from edgecnn.targets import ROUTES

log = logging.getLogger("edgecnn.pipeline")

AGREEMENT_BUDGET = 0.01  # another route may lose at most this much top-1 agreement with fp32 to be kept


@dataclass
class RouteChoice:
    """The artifact that goes on (the QDQ route's unless another measured faster within budget) and the
    variants the report lists, one per route built."""

    deployable: Artifact
    fidelity: dict[str, Any] | None
    variants: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None


def choose_route(
    target: Any,
    spec: ModelSpec,
    qdq: Artifact,
    qdq_fidelity: dict[str, Any],
    *,
    calib: np.ndarray,
    validate: Callable[[Artifact], dict[str, Any]],
    out: Path,
    protocol: Any,
    batch: int,
    threads: int | None,
) -> RouteChoice:
    """Build `target.int8_routes` from `spec`, validate each, time each against `qdq` (interleaved) and keep the
    fastest within `AGREEMENT_BUDGET` of the QDQ route's agreement (speed alone when agreement is not
    meaningful: random weights)."""
    choice = RouteChoice(qdq, qdq_fidelity, [_variant("qdq", qdq, qdq_fidelity, None, chosen=True)])
    best_ratio = 1.0
    x = np.ascontiguousarray(calib[:batch])
    for name in target.int8_routes:
        try:
            art = ROUTES.get(name)(spec, out / "routes" / name / "model.xml", calib_data=calib, dynamic_batch=batch > 1)
            fid = validate(art)
            cmp = compare(qdq, art, x, backend=target.timing(art.format)[0], threads=threads, protocol=protocol,
                          names=("qdq", name))  # fmt: skip
        except Exception as exc:  # another library failing on this model (Ctrl-C and SIGTERM are BaseExceptions)
            log.warning("int8 route %s not built: %s", name, first_line(exc))
            choice.variants.append({"name": f"int8 via {name}", "route": name, "chosen": False,
                                    "note": f"not built: {first_line(exc)}"})  # fmt: skip
            continue
        within = not qdq_fidelity.get("meaningful") or fid["top1_agreement"] >= (
            qdq_fidelity["top1_agreement"] - AGREEMENT_BUDGET
        )
        faster = cmp.verdict() == "faster" and cmp.ratio < best_ratio
        variant = _variant(name, art, fid, cmp, chosen=False)
        choice.variants.append(variant)
        choice.variants[0]["p50_ms"] = cmp.a.p50  # the QDQ route, timed in the same rounds
        why = (
            f"{name} route {cmp.ratio:.2f}x the QDQ route's latency "
            f"({cmp.confidence:.0%} interval [{cmp.ci_low:.2f}, {cmp.ci_high:.2f}]), "
            f"top-1 agreement {fid['top1_agreement']:.3f} vs {qdq_fidelity['top1_agreement']:.3f}"
        )
        if faster and within:
            best_ratio = cmp.ratio
            for v in choice.variants:
                v["chosen"] = v is variant
            choice.deployable, choice.fidelity = art, fid
            choice.note = f"int8 route: {why}: {name} delivered"
        elif choice.deployable is qdq:
            reason = "not faster" if not faster else f"outside the {AGREEMENT_BUDGET} agreement budget"
            choice.note = f"int8 route: {why}: {reason}, the QDQ route delivered"
        log.info("%s", choice.note)
    return choice


def _variant(name: str, art: Artifact, fid: dict[str, Any] | None, cmp: Any, *, chosen: bool) -> dict[str, Any]:
    fid = fid or {}
    return {
        "name": f"int8 via {name}",
        "route": name,
        "size_bytes": art.bytes,
        "p50_ms": cmp.b.p50 if cmp is not None else None,
        "ratio_to_qdq": cmp.ratio if cmp is not None else 1.0,
        "ratio_to_qdq_ci": [cmp.ci_low, cmp.ci_high] if cmp is not None else None,
        "top1_agreement": fid.get("top1_agreement"),
        "sqnr_db": fid.get("sqnr_db"),
        "chosen": chosen,
        "path": str(art.path),
    }

"""The accuracy-first int8 default: build the candidate techniques, measure each on held-out samples, keep the
most faithful one that is still faster than fp32 on the target.

Candidates are small deltas of the configuration (`{"calibration_method": "percentile"}`, `{"float_layers": 6}`,
`{"bias_correction": True}`, `{"equalize": True}`, `{"rounding": "gptq"}`); one whose option does not exist
in `AdvancedQuantization` yet is skipped by name. Every number is a real QDQ model run on samples that were
never used to calibrate it. Cheap signals prune first (SQNR on a few samples, calibration on a subset), the
search stops once agreement reaches `search_target`, and only the final few candidates are timed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.quant.bias_correction import correct_biases
from edgecnn.quant.config import AdvancedQuantization
from edgecnn.quant.equalize import EqualizeConfig
from edgecnn.quant.equalize import equalize as cle
from edgecnn.quant.ptq import PTQConfig, quantizable_nodes, quantize_qdq
from edgecnn.quant.sensitivity import Scorer, layer_sensitivity

log = logging.getLogger("edgecnn.quant")

QUICK_SAMPLES = 8  # held-out samples of the cheap signals (sensitivity ranking, calibration-method pruning)
SUBSET_CALIB = 32  # calibration samples of the equalized candidate (it needs ranges of its own)
# ... and of percentile / entropy, whose histogram calibrators cost several MinMax passes. 64, not 16: on
# EfficientNet-Lite1 the default's held-out agreement rose from 0.917/0.958 to 0.969/0.969 (two 96-crop sets)
HISTOGRAM_CALIB = 64
GPTQ_CALIB = 32  # calibration samples gptq rounding collects its layer statistics from (its cost grows with them)
GPTQ_ROWS = 1024  # ... and im2col rows per sample (gptq's default 4096 took 90 s on Lite1 with 64 samples)
MIN_EQUALIZE_COVERAGE = 0.25  # equalize only when its pairs touch this fraction of the quantizable layers
MAX_TIMED = 3  # candidates timed against fp32, most faithful first
FLOAT_LAYER_STEPS = (2, 4, 6)  # k of "keep the k most sensitive early layers in float", plus max_float_layers


def split_holdout(
    n: int, groups: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(calibrate indices, held-out indices, how) or None when there are too few samples to hold some out.

    With `groups` (the source of each sample, e.g. its photo) whole sources go to one side, so no crop of a
    held-out photo was calibrated on; without, the last contiguous block is held out (and the report says so).
    """
    if n < 16:
        return None
    want = max(8, int(math.ceil(fraction * n)))
    if groups is not None and len(np.unique(groups)) >= 4:
        uniq = np.random.default_rng(seed).permutation(np.unique(groups))
        held_sources: list[int] = []
        for g in uniq:
            if np.isin(groups, held_sources).sum() >= want:
                break
            held_sources.append(int(g))
        mask = np.isin(groups, held_sources)
        if 8 <= mask.sum() <= n - 8:
            return (
                np.flatnonzero(~mask),
                np.flatnonzero(mask),
                f"by source photo: {len(held_sources)} of {len(uniq)} photos held out "
                f"({int(mask.sum())} samples), the other {len(uniq) - len(held_sources)} calibrate",
            )
    idx = np.arange(n)
    return (
        idx[: n - want],
        idx[n - want :],
        f"contiguous blocks: the last {want} of {n} samples held out (the source of each sample is unknown, "
        "so crops of one image may sit on both sides)",
    )


@dataclass
class Candidate:
    """One int8 model built from a configuration delta and measured on the held-out samples."""

    name: str
    technique: str
    delta: dict[str, Any]
    path: Path | None
    prepared: Path
    cache: Path
    config: PTQConfig | None = None
    metrics: dict[str, Any] | None = None
    note: str = ""
    timing: dict[str, Any] | None = None
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    parent: Candidate | None = None  # the candidate this one adds its technique to

    def gain_db(self) -> float | None:
        """What this candidate's technique bought over its parent, in dB of held-out logits SQNR."""
        if self.parent is None or not self.metrics or not self.parent.metrics or self.path is None:
            return None
        return self.metrics["sqnr_db"] - self.parent.metrics["sqnr_db"]

    def key(self) -> tuple[float, float]:
        """Most faithful first: logits SQNR (continuous, so stable on a few dozen held-out samples where
        top-1 agreement moves in steps of one sample), then agreement."""
        m = self.metrics or {}
        agreement = m.get("top1_agreement")
        return (m.get("sqnr_db", -math.inf), -math.inf if agreement is None else agreement)

    def row(self, chosen: bool) -> dict[str, Any]:
        m = self.metrics or {}
        t = self.timing or {}
        return {
            "name": self.name,
            "technique": self.technique,
            "delta": self.delta,
            "top1_agreement": m.get("top1_agreement"),
            "sqnr_db": m.get("sqnr_db"),
            "top1": m.get("top1"),
            "eval_top1": None,
            "gain_db": self.gain_db(),
            "over": self.parent.name if self.parent is not None else None,
            "latency_ratio": t.get("ratio"),
            "p50_ms": t.get("p50_ms"),
            "fp32_p50_ms": t.get("fp32_p50_ms"),
            "faster": t.get("faster"),
            "size_bytes": self.path.stat().st_size if self.path and self.path.exists() else None,
            "chosen": chosen,
            "measured": "held-out" if self.path is not None else "quick",
            "note": self.note,
            "seconds": round(self.seconds, 2),
            **self.extra,
        }


class Search:
    """Runs the candidates. `run` is the `_Int8Run` (work dir, prepare, fp32 path, timing, post-quantize hook)."""

    def __init__(
        self,
        run: Any,
        calib: np.ndarray,
        scorer: Scorer,
        adv: AdvancedQuantization,
        *,
        time_candidate: Callable[[Path], dict[str, Any]] | None,
        labelled: Scorer | None = None,
    ) -> None:
        self.run, self.calib, self.scorer, self.adv = run, calib, scorer, adv
        self.labelled = labelled  # eval_data with labels: each built candidate's accuracy, reported, never selected on
        self.time_candidate = time_candidate
        q = min(QUICK_SAMPLES, len(scorer.x))
        self.quick = replace(scorer, x=scorer.x[:q], reference=scorer.reference[:q], labels=None)
        self.tried: list[Candidate] = []
        self.stopped: str | None = None
        self.not_faster: str | None = None

    # --- building -----------------------------------------------------------------------------------------

    def _good(self, cand: Candidate) -> bool:
        agreement = (cand.metrics or {}).get("top1_agreement")
        return agreement is not None and agreement >= self.adv.search_target

    def _best(self) -> Candidate:
        return max((c for c in self.tried if c.path is not None), key=Candidate.key)

    def _add(self, cand: Candidate, parent: Candidate | None = None) -> bool:
        """Record a candidate; True when the search should stop (target agreement reached)."""
        if cand.technique != "baseline" and cand.parent is None:
            cand.parent = parent or self._best()
        gain = cand.gain_db()
        if gain is not None and gain < 0 and cand.note.find("lowered") < 0:
            cand.note = (cand.note + "; " if cand.note else "") + (
                f"lowered SQNR by {-gain:.1f} dB vs {cand.parent.name}"
            )
        self.tried.append(cand)
        m = cand.metrics or {}
        if self.labelled is not None and cand.path is not None:
            cand.extra["eval_top1"] = self.labelled.score(cand.path).get("top1")
        log.info(
            "candidate %s: agreement %s, SQNR %.2f dB%s",
            cand.name,
            m.get("top1_agreement"),
            m.get("sqnr_db", float("nan")),
            f" ({cand.note})" if cand.note else "",
        )
        if cand.path is not None and self._good(cand):
            self.stopped = f"{cand.name} reached agreement {m['top1_agreement']:.3f} >= {self.adv.search_target}"
            return True
        return False

    def _quantize(self, base: Candidate, name: str, config: PTQConfig, *, prepared=None, cache=None) -> Path:
        return quantize_qdq(
            prepared or base.prepared,
            self.run.work / f"search.{name}.onnx",
            self.calib,
            config,
            cache_path=cache or base.cache,
        )

    def execute(self, base: Candidate) -> Candidate:
        steps = (self._calibration_methods, self._float_layers, self._bias_correction, self._equalize, self._rounding)
        if not self._add(base):
            for step in steps:
                if step():
                    break
        return self._choose()

    def _calibration_methods(self) -> bool:
        """Histogram calibrators (percentile, entropy) cost several MinMax passes: calibrated on a subset."""
        base = self._best()
        if self.adv.calibration_method != "minmax":
            return False  # the caller chose the calibration method: it is the baseline, not a candidate
        sub = self.calib[: min(HISTOGRAM_CALIB, len(self.calib))]
        for method in ("percentile", "entropy"):
            if method == base.config.calibration_method:
                continue
            if method == "entropy" and self._best().config.calibration_method == "percentile":
                skip = Candidate(method, "calibration", {"calibration_method": method}, None, base.prepared, base.cache)
                skip.note = "skipped: percentile already clips the outliers entropy would (saves a histogram pass)"
                self.tried.append(skip)
                continue
            t0 = time.perf_counter()
            cfg = base.config.with_changes(calibration_method=method)
            cache = self.run.work / f"search.{method}.ranges.json"
            path = quantize_qdq(base.prepared, self.run.work / f"search.{method}.onnx", sub, cfg, cache_path=cache)
            delta = {"calibration_method": method}
            cand = Candidate(method, "calibration", delta, path, base.prepared, cache, cfg, self.scorer.score(path))
            cand.note = f"calibrated on {len(sub)} samples"
            cand.seconds = time.perf_counter() - t0
            if self._add(cand, parent=base):
                return True
        return False

    def _float_layers(self) -> bool:
        top = self.adv.max_float_layers
        if top < 1:
            return False
        t0 = time.perf_counter()
        base = self._best()
        early = [n for n in quantizable_nodes(base.prepared) if n not in base.config.nodes_to_exclude][: top + 4]
        ranking = layer_sensitivity(
            base.prepared,
            self.calib,
            base.config,
            cache_path=base.cache,
            scorer=self.quick,
            workdir=self.run.work,
            mode="only",
            layers=early,
        )
        order = [r["layer"] for r in ranking]
        rank_seconds = time.perf_counter() - t0
        for k in sorted({k for k in (*FLOAT_LAYER_STEPS, top) if k <= min(top, len(order))}):
            t1 = time.perf_counter()
            cfg = base.config.with_changes(nodes_to_exclude=(*base.config.nodes_to_exclude, *order[:k]))
            name = f"{base.name}+float{k}" if base.technique != "baseline" else f"float{k}"
            path = self._quantize(base, f"float{k}", cfg)
            cand = Candidate(name, "float fallback", {**base.delta, "float_layers": k}, path, base.prepared, base.cache)
            cand.config, cand.metrics = cfg, self.scorer.score(path)
            cand.extra = {"float_layers": list(order[:k])}
            cand.seconds = time.perf_counter() - t1 + (rank_seconds if k == FLOAT_LAYER_STEPS[0] else 0.0)
            cand.note = f"the {k} most sensitive of the first {len(early)} layers kept in float"
            if self._add(cand, parent=base):
                return True
        return False

    def _bias_correction(self) -> bool:
        if self.adv.bias_correction:
            return False  # already applied (and measured) in the baseline
        t0 = time.perf_counter()
        base = self._best()
        fixed = self.run.work / f"search.{len(self.tried)}.bias_corrected.prepared.onnx"
        rep = correct_biases(base.prepared, base.path, self.calib, fixed)
        path = self._quantize(base, "bias_correction", base.config, prepared=fixed)
        name = f"{base.name}+bias_correction" if base.technique != "baseline" else "bias_correction"
        cand = Candidate(name, "bias correction", {**base.delta, "bias_correction": True}, path, fixed, base.cache)
        cand.config, cand.metrics = base.config, self.scorer.score(path)
        cand.extra = {"layers_corrected": rep.get("layers_corrected")}
        cand.seconds = time.perf_counter() - t0
        return self._add(cand)

    def _equalize(self) -> bool:
        import onnx

        if self.adv.equalize:
            return False  # already applied (and measured) in the baseline
        t0 = time.perf_counter()
        base = self._best()
        model, rep = cle(onnx.load(str(self.run.source.path)), EqualizeConfig(relu6_as_relu=False))
        delta = {k: v for k, v in base.delta.items() if k != "bias_correction"} | {"equalize": True}
        layers = len(quantizable_nodes(base.prepared))
        if rep["pairs"] * 2 < MIN_EQUALIZE_COVERAGE * layers:
            cand = Candidate("equalize", "equalization", delta, None, base.prepared, base.cache, base.config, None)
            cand.note = (
                f"skipped: {rep['pairs']} function-preserving conv pairs for {layers} layers "
                f"({rep['skipped_relu6_pairs']} ReLU6 pairs would need relu6_as_relu, which changes the function)"
            )
            self.tried.append(cand)
            return False
        fp32 = self.run.work / "search.equalized.onnx"
        onnx.save(model, str(fp32))
        prepared, cache = self.run._prepare(fp32, "search.equalized")
        sub = self.calib[: min(SUBSET_CALIB, len(self.calib))]
        path = quantize_qdq(prepared, self.run.work / "search.equalize.onnx", sub, base.config, cache_path=cache)
        name = base.name.replace("+bias_correction", "").replace("bias_correction", "minmax") + "+equalize"
        cand = Candidate(name, "equalization", delta, path, prepared, cache, base.config, None)
        cand.metrics = self.scorer.score(path)
        cand.extra = {"pairs": rep["pairs"]}
        cand.note = f"{rep['pairs']} function-preserving pairs; calibrated on {len(sub)} samples"
        cand.seconds = time.perf_counter() - t0
        return self._add(cand)

    def _rounding(self) -> bool:
        if "rounding" not in AdvancedQuantization.model_fields:
            return False  # learned rounding (quant/rounding.py) has not landed: nothing to try
        if getattr(self.adv, "rounding", None) == "gptq":
            return False  # already applied (and measured) in the baseline
        t0 = time.perf_counter()
        # gptq and bias correction both fix the weights' rounding error and do not stack (the biases were
        # corrected for nearest rounding): re-round the best candidate without bias correction
        built = [c for c in self.tried if c.path is not None and not c.delta.get("bias_correction")]
        base = max(built, key=Candidate.key)
        sub = self.calib[: min(GPTQ_CALIB, len(self.calib))]
        path = self.run.work / "search.gptq.onnx"
        self.run._gptq(base.prepared, base.path, sub, base.config, path, samples=len(sub), rows_per_sample=GPTQ_ROWS)
        delta = {**base.delta, "rounding": "gptq"}
        name = f"{base.name}+gptq"
        cand = Candidate(name, "rounding", delta, Path(path), base.prepared, base.cache, base.config)
        cand.metrics = self.scorer.score(path)
        cand.note = f"layer statistics from {len(sub)} calibration samples x {GPTQ_ROWS} positions"
        cand.seconds = time.perf_counter() - t0
        return self._add(cand, parent=base)

    # --- choosing -----------------------------------------------------------------------------------------

    def _choose(self) -> Candidate:
        built = sorted((c for c in self.tried if c.path is not None), key=Candidate.key, reverse=True)
        if self.time_candidate is None:
            return built[0]
        for cand in built[:MAX_TIMED]:
            cand.timing = self.time_candidate(cand.path)
            if "skipped" in cand.timing:
                return cand  # cannot time here: the most faithful one, and the report says why
            if cand.timing.get("faster"):
                self._float_cost(cand)
                return cand
        baseline = next(c for c in self.tried if c.technique == "baseline")
        if baseline.timing is None:
            baseline.timing = self.time_candidate(baseline.path)
        self.not_faster = (
            f"none of the {min(MAX_TIMED, len(built))} most faithful candidates is faster than fp32: "
            f"{baseline.name} goes on to the latency fallback (other formats)"
        )
        baseline.note = (baseline.note + "; " if baseline.note else "") + "kept: nothing more faithful is faster"
        return baseline

    def _float_cost(self, chosen: Candidate) -> None:
        """Mixed precision knows its cost: time the same candidate with every layer in int8 and say what the
        layers kept in float cost, measured (one more interleaved timing, only when float layers were kept)."""
        k = chosen.delta.get("float_layers")
        node = chosen
        while node is not None and node.technique != "float fallback":
            node = node.parent
        if not k or node is None or node.parent is None or node.parent.path is None:
            return
        int8 = node.parent
        if int8.timing is None:
            int8.timing = self.time_candidate(int8.path)
        a, b = chosen.timing or {}, int8.timing or {}
        if a.get("ratio") is None or b.get("ratio") is None or not a.get("fp32_p50_ms"):
            return
        # each ratio was timed interleaved with fp32, so their difference is steadier than one of raw p50s
        fraction = a["ratio"] - b["ratio"]
        ms = fraction * a["fp32_p50_ms"]
        chosen.extra["float_layers_cost"] = {
            "layers": k,
            "all_int8": int8.name,
            "ratio_all_int8": b["ratio"],
            "ratio": a["ratio"],
            "fraction_of_fp32": round(fraction, 4),
            "ms": round(ms, 4),
            "ms_per_layer": round(ms / k, 4),
        }
        chosen.note = (chosen.note + "; " if chosen.note else "") + (
            f"its {k} float layers cost {fraction:+.1%} of fp32 latency ({ms:+.2f} ms) vs {int8.name} all in int8"
        )

    def report(self, chosen: Candidate, split: str, seconds: float) -> dict[str, Any]:
        return {
            "enabled": True,
            "skipped": None,
            "split": split,
            "held_out_samples": int(len(self.scorer.x)),
            "calibration_samples": int(len(self.calib)),
            "target_agreement": self.adv.search_target,
            "stopped_early": self.stopped,
            "not_faster": self.not_faster,
            "chosen": chosen.name,
            "candidates": [c.row(c is chosen) for c in self.tried],
            "seconds": round(seconds, 2),
        }

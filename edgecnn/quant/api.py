"""quantize(): a model (ModelSpec, nn.Module or fp32 ONNX) -> a verified int8 QDQ (or fp16) ONNX artifact + report.

Steps: export (BN folded, simplified) -> [equalize] -> ORT pre-processing -> calibrate once (range cache)
-> QDQ with the target's profile -> [bias correction] -> fidelity / accuracy -> [accuracy fallback]
-> latency side by side with fp32 (and the alternatives when int8 is not faster) -> atomic write.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.errors import InvalidInputError
from edgecnn.evaluation.api import load_eval_data, predict
from edgecnn.exporters.onnx import export_onnx
from edgecnn.fileio import atomic_path, check_out_file
from edgecnn.metrics import flat_outputs, measure_fidelity
from edgecnn.profiling.environment import fingerprint
from edgecnn.quant.bias_correction import correct_biases
from edgecnn.quant.calibration import (
    DEFAULT_SIZE,
    default_calibration_with_sources,
    input_spec_of_onnx,
    load_calibration,
)
from edgecnn.quant.config import AdvancedQuantization, Precision, Preset, QuantizeOptions, split_advanced
from edgecnn.quant.equalize import EqualizeConfig
from edgecnn.quant.equalize import equalize as cle
from edgecnn.quant.fp16 import convert_fp16
from edgecnn.quant.latency import compare_latency
from edgecnn.quant.ptq import COMPUTE_OPS, PTQConfig, count_qdq, prepare_for_quantization, quantize_qdq
from edgecnn.quant.rounding import gptq_round
from edgecnn.quant.search import Candidate, Search, split_holdout
from edgecnn.quant.sensitivity import Budget, Scorer, accuracy_fallback, layer_sensitivity
from edgecnn.runtime import load_session
from edgecnn.spec import InputSpec, ModelSpec, Preprocess, as_spec
from edgecnn.targets import PROFILES, S8S8_SYMMETRIC, U8S8, QuantProfile, get_target

log = logging.getLogger("edgecnn.quant")

EVAL_SAMPLES = 64  # calibration samples the fidelity checks run on when no eval_data is given


@dataclass
class QuantizationResult:
    artifact: Artifact
    report: dict[str, Any]

    def __iter__(self):  # `artifact, report = edgecnn.quantize(...)`
        return iter((self.artifact, self.report))


def quantize(
    model_or_onnx: Any,
    *,
    target: str = "onnxruntime",
    precision: Precision = "int8",
    calib_data: Any = None,
    preset: QuantProfile | Preset | None = None,
    max_accuracy_drop: float | None = None,
    min_agreement: float | None = None,
    eval_data: Any = None,
    input_shape: tuple[int, ...] | None = None,
    out: str | os.PathLike | None = None,
    advanced: AdvancedQuantization | dict[str, Any] | None = None,
    calib_groups: Any = None,
    reference: Any = None,
) -> QuantizationResult:
    """Quantize to one int8 QDQ ONNX model (or fp16), checked for accuracy and speed against fp32.

    model_or_onnx: a ModelSpec, an nn.Module (give input_shape unless it has one), an fp32 ONNX path or Artifact.
    target: picks the int8 preset (U8S8 for onnxruntime/openvino/arm, symmetric S8S8 for tensorrt/cuda)
    and the backend the latency check runs on; `preset` ("u8s8", "s8s8_symmetric") overrides it.
    calib_data: an image folder, .npy/.npz, arrays, or None for the default photos (1-D models need arrays).
    max_accuracy_drop (points, needs labelled eval_data) or min_agreement (top-1 agreement with fp32, a fraction):
    keep the most sensitive layers in float until it holds.
    eval_data: what the checks run on: a path, an array, or an (x, labels) tuple; default: calibration samples.
    advanced: the rare knobs (`AdvancedQuantization`: calibration method, equalize, bias correction, op types,
    sensitivity, latency check and fallback, reduce_range, per_channel, seed, threads, the accuracy-first
    search (on by default), ...).
    calib_groups: the source (e.g. photo id) of each calibration sample, so the search's held-out samples never
    share a source with the calibration ones (known by itself for the default photos).
    reference: the float model every fidelity figure compares with, when not the model itself (a fine-tuned
    copy promises agreement with the model before fine-tuning).
    """
    opts = QuantizeOptions(
        precision=precision,
        preset=None if isinstance(preset, QuantProfile) else preset,
        max_accuracy_drop=max_accuracy_drop,
        min_agreement=min_agreement,
    )
    adv = split_advanced(advanced)
    return _quantize(
        model_or_onnx,
        target,
        opts,
        adv,
        preset,
        calib_data,
        eval_data,
        input_shape,
        out,
        calib_groups=calib_groups,
        reference=reference,
    )


def qat(
    model: Any,
    *,
    target: str = "onnxruntime",
    calib_data: Any = None,
    train_data: Any = None,
    steps: int = 200,
    lr: float = 1e-5,
    batch_size: int = 8,
    eval_data: Any = None,
    input_shape: tuple[int, ...] | None = None,
    out: str | os.PathLike | None = None,
    advanced: AdvancedQuantization | dict[str, Any] | None = None,
    calib_groups: Any = None,
) -> QuantizationResult:
    """Quantization-aware int8: fine-tune the model's fake-quantized copy to match the float model (label-free
    distillation; with labelled `train_data`, cross-entropy joins), then quantize it as `quantize()` does.

    model: a ModelSpec, an nn.Module (with input_shape) or a zoo name; not an ONNX file (training needs PyTorch).
    train_data: (x, labels) or an array; default: the calibration samples (and their mirror images).
    Every fidelity figure in the report compares with the original float model, not the fine-tuned one. QAT
    changes the function, so the original model is also quantized after training: the more faithful of the two
    is kept (`report["qat"]["kept"]`), with a warning when fine-tuning made it worse.
    """
    from edgecnn.passes.base import PassContext
    from edgecnn.passes.qat import qat_finetune

    if isinstance(model, Artifact) or isinstance(model, (str, os.PathLike)) and str(model).endswith(".onnx"):
        raise InvalidInputError("qat fine-tunes in PyTorch: give the model (a ModelSpec, nn.Module or zoo name)")
    if isinstance(model, (str, os.PathLike)):
        from edgecnn.zoo.loader import load_model

        model = load_model(model)
    spec = as_spec(model, input_shape=input_shape, name=type(model).__name__)
    adv = split_advanced(advanced)
    if out is not None:
        check_out_file(out, suffixes=(".onnx",), flag="out")
    # loaded once: the default training data, and what both quantizations below calibrate on
    calib, groups = calibration_set(
        calib_data, spec.input, spec.preprocess, size=adv.calib_size or DEFAULT_SIZE, seed=adv.seed or 0,
        groups=calib_groups,
    )  # fmt: skip
    if train_data is None:
        train_data = calib
    ctx = PassContext(seed=adv.seed or 0)
    student, report = qat_finetune(
        spec, train_data, ctx=ctx, steps=steps, lr=lr, batch_size=batch_size, target=target, seed=adv.seed or 0
    )
    out_path = Path(out) if out is not None else Path(f"{spec.name}.qat.int8.{target}.onnx")
    if out is None and out_path.exists():  # never replace a file by a name nobody gave
        raise InvalidInputError(f"{out_path} already exists (the default output name); give out to replace it")
    opts = QuantizeOptions(precision="int8")
    with tempfile.TemporaryDirectory(prefix="edgecnn-qat-") as tmp:

        def int8(model: Any, name: str) -> QuantizationResult:
            return _quantize(
                model, target, opts, adv, None, calib, eval_data, input_shape, Path(tmp) / f"{name}.onnx",
                calib_groups=groups, reference=spec,
            )  # fmt: skip

        kept = keep_more_faithful(int8(student, "qat"), int8(spec, "ptq"), report)
        with atomic_path(out_path) as tmp_out:
            shutil.copyfile(kept.artifact.path, tmp_out)
    kept.artifact = dataclasses.replace(kept.artifact, path=out_path)
    kept.report["artifact"]["path"] = str(out_path)
    return kept


def keep_more_faithful(
    aware: QuantizationResult, post: QuantizationResult, qat_report: dict[str, Any]
) -> QuantizationResult:
    """QAT changes the function: its int8 model is kept only when it agrees with the original float model at
    least as well as post-training int8 of the original does; otherwise the post-training one, with a warning.
    Both must have been measured against the same reference (the model before fine-tuning)."""
    a, b = aware.report["fidelity"], post.report["fidelity"]
    better = _fidelity_key(a) >= _fidelity_key(b)
    kept = aware if better else post
    kept.report["qat"] = {**qat_report, "kept": better, "post_training_fidelity": b, "qat_fidelity": a}
    if not better:
        kept.report["warnings"].append(
            f"QAT made fidelity worse than post-training int8 of the original model (agreement "
            f"{a.get('top1_agreement', float('nan')):.3f} vs {b.get('top1_agreement', float('nan')):.3f}, "
            f"SQNR {a.get('sqnr_db', float('nan')):.1f} vs {b.get('sqnr_db', float('nan')):.1f} dB on "
            f"{kept.report['evaluation']['data']}): kept the post-training model"
        )
        log.warning("%s", kept.report["warnings"][-1])
    return kept


def _quantize(
    model_or_onnx: Any,
    target: str,
    opts: QuantizeOptions,
    adv: AdvancedQuantization,
    preset: QuantProfile | str | None,
    calib_data: Any,
    eval_data: Any,
    input_shape: tuple[int, ...] | None,
    out: str | os.PathLike | None,
    *,
    calib_groups: Any = None,
    reference: Any = None,
    extra_report: dict[str, Any] | None = None,
) -> QuantizationResult:
    """reference: the float model (ModelSpec) every fidelity figure compares with, when not the model itself
    (QAT quantizes a fine-tuned copy but promises agreement with the original); extra_report joins the report."""
    precision = opts.precision
    seed = adv.seed or 0
    threads = adv.threads

    tgt = get_target(target)
    qprofile = _profile(preset, tgt.quant)
    if adv.per_channel is not None:
        qprofile = dataclasses.replace(qprofile, per_channel=adv.per_channel)
    budget = Budget(max_accuracy_drop=opts.max_accuracy_drop, min_agreement=opts.min_agreement)
    started = time.perf_counter()
    if out is not None:  # before any work: a folder, a wrong suffix or an unwritable place is one clear line
        check_out_file(out, suffixes=(".onnx",), flag="out")
    # removed on every exit path: success, error, Ctrl-C, and SIGTERM (the CLI raises it as an exception)
    with tempfile.TemporaryDirectory(prefix="edgecnn-quant-") as tmp:
        work = Path(tmp)
        source = _fp32_source(model_or_onnx, work / "fp32.onnx", input_shape=input_shape)
        if reference is not None:
            source.reference = _fp32_source(reference, work / "reference.onnx", input_shape=input_shape).path
        out_path = Path(out) if out else _default_out(source, precision, target)
        if out is None and out_path.exists():  # never replace a file by a name nobody gave
            raise InvalidInputError(
                f"{out_path} already exists (the default output name); give out (--out) to replace it or "
                "to write elsewhere"
            )
        report: dict[str, Any] = {
            "precision": precision,
            "target": target,
            "model": source.describe,
            "steps": [],
            "fallback": None,  # set by an accuracy budget; null (not missing) without one
            "sensitivity": None,  # set by advanced.sensitivity=True
            "warnings": [],
            **(extra_report or {}),
        }
        eval_x, eval_y = _eval_data(eval_data, source)
        if precision == "fp16":
            final = _fp16(
                source,
                work,
                report,
                eval_x,
                eval_y,
                calib_data,
                keep_io_types=adv.keep_io_types,
                tgt=tgt,
                threads=threads,
                check_latency=adv.check_latency,
            )
        else:
            rr, rr_reason = _reduce_range(adv.reduce_range, tgt)
            report["reduce_range"] = {"value": rr, "reason": rr_reason}
            config = PTQConfig(
                profile=qprofile,
                calibration_method=adv.calibration_method,
                op_types=adv.op_types or None,
                nodes_to_exclude=adv.nodes_to_exclude,
                reduce_range=rr,
                keep_removable_activations=tgt.keeps_removable_activations,
            )
            run = _Int8Run(source, work, config, report, tgt=tgt, threads=threads, seed=seed)
            final = run.execute(calib_data, eval_x, eval_y, adv, budget=budget, calib_groups=calib_groups)
        with atomic_path(out_path) as tmp:
            shutil.copyfile(final, tmp)
        report["seconds"] = round(time.perf_counter() - started, 2)
        artifact = Artifact(
            path=out_path,
            format="onnx",
            precision=precision,
            target=target,
            inputs=[source.input.to_dict()],
            outputs=[{"name": n} for n in _output_names(final)],
            provenance={"model": source.describe, "quantization": _provenance(report)},
        )
        report["artifact"] = {
            "path": str(out_path),
            "sha256": artifact.sha256(),
            "bytes": artifact.bytes,
            "fp32_bytes": source.path.stat().st_size,
        }
        for warning in report["warnings"]:
            log.warning("%s", warning)
        return QuantizationResult(artifact, report)


@dataclass
class _Source:
    """The fp32 ONNX model to quantize and what is known about its input."""

    path: Path
    input: InputSpec
    preprocess: Preprocess | None
    describe: dict[str, Any]
    name: str
    origin: Path | None  # the user's ONNX file, when one was given
    reference: Path | None = None  # the float model fidelity is measured against, when not `path` (after QAT)

    @property
    def teacher(self) -> Path:
        return self.reference or self.path


def _fp32_source(model: Any, dest: Path, *, input_shape: tuple[int, ...] | None) -> _Source:

    if isinstance(model, Artifact) or isinstance(model, (str, os.PathLike)) and str(model).endswith(".onnx"):
        artifact = model if isinstance(model, Artifact) else Artifact.from_path(model)
        if artifact.format != "onnx":
            raise InvalidInputError(f"quantize takes a model or an fp32 ONNX file, not a {artifact.format} artifact")
        if artifact.precision not in ("fp32", None):
            raise InvalidInputError(f"{artifact.path} is already {artifact.precision}; quantize its fp32 model instead")
        shutil.copyfile(artifact.path, dest)
        described = artifact.provenance.get("model") or {"name": artifact.path.stem, "source": str(artifact.path)}
        pre = Preprocess.from_dict(described["preprocess"]) if described.get("preprocess") else None
        return _Source(
            dest,
            input_spec_of_onnx(dest),
            pre,
            described,
            str(described.get("name", artifact.path.stem)),
            artifact.path,
        )
    if isinstance(model, (str, os.PathLike)):
        from edgecnn.zoo.loader import load_model

        model = load_model(model)

    spec: ModelSpec = as_spec(model, input_shape=input_shape, name=type(model).__name__)
    export_onnx(spec, dest, check=False)  # the export folds BatchNorm and simplifies the graph
    return _Source(dest, spec.input, spec.preprocess, spec.describe(), spec.name, None)


def _output_names(path: Path) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]


def _default_out(source: _Source, precision: str, target: str) -> Path:
    stem = source.origin.with_suffix("") if source.origin else Path(source.name)
    return Path(f"{stem}.{precision}.{target}.onnx")


def _profile(profile: QuantProfile | str | None, default: QuantProfile) -> QuantProfile:
    """The int8 preset: the target's unless one is named."""
    if profile is None:
        return default
    if isinstance(profile, QuantProfile):
        return profile
    key = str(profile).lower()
    aliases = {"s8s8": "s8s8_symmetric", "u8s8": "u8s8"}
    if aliases.get(key, key) not in PROFILES:
        raise InvalidInputError(f"unknown quantization preset '{profile}'; use one of {', '.join(PROFILES)}")
    return PROFILES[aliases.get(key, key)]


def _reduce_range(requested: bool | None, tgt: Any) -> tuple[bool, str]:
    """7-bit weights when int8 runs on this x86 CPU without VNNI (pmaddubsw sums saturate int16)."""
    if requested is not None:
        return requested, "set by the caller"
    if tgt.device != "cpu":
        return False, f"target {tgt.name} runs on {tgt.device}: full 8-bit weights"
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i686"):
        return False, f"{platform.machine()} CPU: no int16 saturation in its int8 kernels"
    flags = set(fingerprint().get("flags") or [])
    vnni = flags & {"avx512_vnni", "avx_vnni", "amx_int8"}
    if vnni:
        return False, f"this CPU has {', '.join(sorted(vnni))}: full 8-bit weights"
    return (
        True,
        "x86 CPU without VNNI: 8-bit x 8-bit products saturate int16 in ONNX Runtime's kernels, so weights use 7 bits",
    )


def _eval_data(data: Any, source: _Source) -> tuple[np.ndarray | None, np.ndarray | None]:
    if isinstance(data, tuple) and len(data) == 2 and data[1] is None:
        data = data[0]  # (x, None): inputs without labels
    if data is None:
        return None, None

    spec_like = Artifact(path=source.path, format="onnx", provenance={"model": source.describe})
    return load_eval_data(data, spec_like)


def calibration_set(
    calib_data: Any,
    input_spec: InputSpec,
    preprocess: Preprocess | None,
    *,
    size: int,
    seed: int,
    groups: Any = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """The calibration samples and, when known, the source of each (`groups`, or the default photos say which
    photo), so a held-out split keeps every crop of one source on one side."""
    if calib_data is None and input_spec.layout == "NCHW":
        return default_calibration_with_sources(input_spec, preprocess, size=size, seed=seed)
    x = load_calibration(calib_data, input_spec, preprocess=preprocess, size=size, seed=seed)
    if groups is not None and len(groups) != len(x):
        raise InvalidInputError(f"calib_groups has {len(groups)} entries for {len(x)} calibration samples")
    return x, None if groups is None else np.asarray(groups)


def _fp32_logits(path: Path, x: np.ndarray, threads: int | None) -> np.ndarray:

    return predict(load_session(path, threads=threads), x)


class _Int8Run:
    """One int8 quantization with its passes, checks and fallbacks; fills `report` as it goes."""

    def __init__(
        self,
        source: _Source,
        work: Path,
        config: PTQConfig,
        report: dict[str, Any],
        *,
        tgt: Any,
        threads: int | None,
        seed: int,
    ) -> None:
        self.source, self.work, self.config, self.report = source, work, config, report
        self.tgt, self.threads, self.seed = tgt, threads, seed
        self._unequalized: Path | None = None
        self._hessians: dict[Path, dict[str, Any]] = {}  # gptq rounding's layer statistics, per fp32 model
        self._search_rounding: str | None = None  # the rounding of the candidate the search chose
        report["profile"] = config.to_dict()["profile"]
        # how the target checks an int8 ONNX model here (`Target.validation`): every candidate is measured that way
        probe = Artifact(path=work / "candidate.onnx", format="onnx", precision="int8", target=tgt.name)
        check = tgt.validation(probe, probe)
        self.runtime: tuple[str, dict[str, Any]] = (check.backend, check.options)

    def execute(
        self,
        calib_data: Any,
        eval_x: np.ndarray | None,
        eval_y: np.ndarray | None,
        adv: AdvancedQuantization,
        *,
        budget: Budget,
        calib_groups: Any = None,
    ) -> Path:
        t0 = time.perf_counter()
        size = adv.calib_size or DEFAULT_SIZE
        calib, groups = calibration_set(
            calib_data, self.source.input, self.source.preprocess, size=size, seed=self.seed, groups=calib_groups
        )
        self.report["calibration"] = {
            "source": _describe_source(calib_data),
            "samples": int(len(calib)),
            "method": self.config.calibration_method,
            "load_seconds": round(time.perf_counter() - t0, 2),
        }
        calib, scorer, select, split = self._search_data(calib, groups, eval_x, eval_y, adv)
        fp32 = self.source.path
        if adv.equalize:
            fp32 = self._equalize(fp32, scorer, adv.relu6_as_relu)
        prepared, cache = self._prepare(fp32, "model")
        t1 = time.perf_counter()
        int8 = quantize_qdq(prepared, self.work / "int8.onnx", calib, self.config, cache_path=cache)
        self.report["calibration"]["calibrate_quantize_seconds"] = round(time.perf_counter() - t1, 2)
        metrics = scorer.score(int8)
        if adv.equalize and adv.measure_effect:
            reverted = self._equalize_effect(calib, scorer, metrics)
            if reverted is not None:
                prepared, cache, int8, metrics = reverted
        if adv.bias_correction:
            prepared, int8, metrics = self._bias_correct(prepared, int8, calib, cache, scorer, metrics)
        if adv.rounding == "gptq":
            int8, metrics = self._round(prepared, int8, calib, scorer, metrics, self.config)
        timing = None
        if select is not None:
            prepared, cache, int8, metrics, timing = self._search(
                prepared, cache, int8, metrics, calib, scorer, select, adv, split
            )
            self.report["calibration"]["method"] = self.config.calibration_method
        config = self.config
        if budget.active:
            config, fallback = accuracy_fallback(
                prepared,
                calib,
                config,
                cache_path=cache,
                scorer=scorer,
                budget=budget,
                workdir=self.work,
                max_float_layers=adv.max_float_layers,
            )
            self.report["fallback"] = fallback
            if fallback["float_layers"]:
                int8 = quantize_qdq(prepared, self.work / "int8.budget.onnx", calib, config, cache_path=cache)
                metrics, timing = scorer.score(int8), None  # a new model: time it again
                if adv.rounding == "gptq" or self._search_rounding == "gptq":
                    int8, metrics = self._round(prepared, int8, calib, scorer, metrics, config)
            if not fallback["budget"]["passed"]:
                self.report["warnings"].append(
                    f"accuracy budget NOT met: {fallback['budget']['name']} = "
                    f"{fallback['budget']['value']:.3g} (threshold {fallback['budget']['threshold']})"
                )
        if adv.sensitivity:
            self.report["sensitivity"] = layer_sensitivity(
                prepared, calib, config, cache_path=cache, scorer=scorer, workdir=self.work, mode="only"
            )
        self.report["config"] = config.to_dict()
        self.report["fidelity"] = metrics
        self.report["accuracy"] = _accuracy_report(metrics, scorer)
        self.report["graph"] = count_qdq(int8)
        if adv.check_latency:
            int8 = self._latency(
                prepared, int8, calib, cache, config, scorer, budget, adv.latency_fallback, first=timing
            )
        return int8

    def _search_data(
        self,
        calib: np.ndarray,
        groups: np.ndarray | None,
        eval_x: np.ndarray | None,
        eval_y: np.ndarray | None,
        adv: AdvancedQuantization,
    ) -> tuple[np.ndarray, Scorer, Scorer | None, str | None]:
        """(calibration samples, the checks' scorer, the search's scorer, split description).

        The search measures its candidates on calibration samples held out from calibrating (by source photo
        when known), never on eval_data: its labels stay for the final, unbiased accuracy. The checks run on
        eval_data when given, else on the held-out samples (or, without a search, the first calibration ones)."""
        skipped = None if adv.search else "off (advanced.search=False)"
        if skipped is None and self.source.describe.get("weights") == "random":
            skipped = "random weights (no pretrained weights here): candidates would be compared on noise"
        split = None
        if skipped is None:
            split = split_holdout(len(calib), groups, adv.holdout, self.seed)
            if split is None:
                skipped = f"too few calibration samples ({len(calib)}) to hold some out"
        if split is not None:
            cal_idx, held_idx, how = split
            held = calib[held_idx]
            reference = _fp32_logits(self.source.teacher, held, self.threads)
            flat = flat_outputs(reference)
            if flat is None:
                cal = np.ascontiguousarray(calib[cal_idx])
                select = Scorer(held, reference, None, self.threads, *self.runtime)
                checks = select if eval_x is None else self._scorer(eval_x, eval_y)
                self.report["evaluation"] = {
                    "data": "eval_data" if eval_x is not None else f"held-out calibration samples ({how})",
                    "samples": int(len(checks.x)),
                    "labels": eval_y is not None,
                    "runtime": self.runtime[0],
                }
                self.report["calibration"]["samples"] = int(len(cal))
                self.report["calibration"]["held_out"] = {"samples": int(len(held)), "split": how}
                return cal, checks, select, how
            skipped = f"{flat}: there is nothing to measure the candidates by (random weights?)"
        self.report["search"] = {"enabled": adv.search, "skipped": skipped, "candidates": []}
        if adv.search:
            self.report["warnings"].append(f"accuracy-first search skipped: {skipped}; plain int8 (MinMax) used")
        x = eval_x if eval_x is not None else calib[:EVAL_SAMPLES]
        self.report["evaluation"] = {
            "data": "eval_data" if eval_x is not None else f"first {len(x)} calibration samples",
            "samples": int(len(x)),
            "labels": eval_y is not None,
            "runtime": self.runtime[0],
        }
        return calib, self._scorer(x, eval_y), None, None

    def _scorer(self, x: np.ndarray, y: np.ndarray | None) -> Scorer:
        teacher = _fp32_logits(self.source.teacher, x, self.threads)
        return Scorer(x, teacher, y, self.threads, *self.runtime)

    def _search(
        self,
        prepared: Path,
        cache: Path,
        int8: Path,
        metrics: dict[str, Any],
        calib: np.ndarray,
        scorer: Scorer,
        select: Scorer,
        adv: AdvancedQuantization,
        split: str,
    ) -> tuple[Path, Path, Path, dict[str, Any], dict[str, Any] | None]:
        t0 = time.perf_counter()
        timer = None
        if adv.check_latency:

            def timer(path: Path) -> dict[str, Any]:
                return compare_latency(
                    self.source.path,
                    path,
                    calib[:1],
                    backend=self.tgt.backend,
                    device=self.tgt.device,
                    threads=self.threads,
                )

        labelled = scorer if scorer.labels is not None else None
        search = Search(self, calib, select, adv, time_candidate=timer, labelled=labelled)
        base = Candidate("as configured", "baseline", {}, int8, prepared, cache, self.config)
        base.metrics = metrics if select is scorer else select.score(int8)
        if self.config.calibration_method == "minmax" and not (adv.equalize or adv.bias_correction):
            base.name = "minmax"
        chosen = search.execute(base)
        self.report["search"] = search.report(chosen, split, time.perf_counter() - t0)
        self.report["variants"] = [
            {
                "name": row["name"],
                "size_bytes": row["size_bytes"],
                "p50_ms": row["p50_ms"],
                "accuracy": row.get("eval_top1"),
                "top1_agreement": row["top1_agreement"],
                "sqnr_db": row["sqnr_db"],
                "latency_ratio": row["latency_ratio"],
                "chosen": row["chosen"],
            }
            for row in self.report["search"]["candidates"]
            if row["measured"] == "held-out"
        ]
        hurt = [
            f"{row['name']} lowered held-out SQNR by {-row['gain_db']:.1f} dB vs {row['over']}"
            for row in self.report["search"]["candidates"]
            if row["gain_db"] is not None and row["gain_db"] < 0
        ]
        if hurt:
            self.report["search"]["reverted"] = [f"not used: {h}" for h in hurt]
        self.config = chosen.config
        self._search_rounding = chosen.delta.get("rounding")
        if chosen.delta.get("bias_correction") or chosen.delta.get("equalize"):
            self.report["steps"].append(
                {"type": "search", "report": {"chosen": chosen.name, "delta": chosen.delta}, "seconds": 0.0}
            )
        metrics = chosen.metrics if select is scorer else scorer.score(chosen.path)
        return chosen.prepared, chosen.cache, chosen.path, metrics, chosen.timing

    def _gptq(
        self, prepared: Path, int8: Path, calib: np.ndarray, config: PTQConfig, out: Path, **options: Any
    ) -> dict[str, Any]:
        """GPTQ rounding of `int8` into `out` with this run's profile, threads and seed, unmeasured: the rounding
        step (`_round`) and the search's `{"rounding": "gptq"}` candidate measure it themselves."""
        return gptq_round(
            prepared,
            int8,
            calib,
            out,
            threads=self.threads,
            symmetric=config.profile.weight_symmetric,
            reduce_range=config.reduce_range,
            seed=self.seed,
            **options,
        )

    def _prepare(self, fp32: Path, stem: str) -> tuple[Path, Path]:
        prepared = prepare_for_quantization(fp32, self.work / f"{stem}.prepared.onnx")
        return prepared, self.work / f"{stem}.ranges.json"

    def _equalize(self, fp32: Path, scorer: Scorer, relu6_as_relu: bool) -> Path:
        import onnx

        t0 = time.perf_counter()
        model, rep = cle(onnx.load(str(fp32)), EqualizeConfig(relu6_as_relu=relu6_as_relu))
        path = self.work / "fp32.equalized.onnx"
        onnx.save(model, str(path))
        check = measure_fidelity(scorer.reference, _fp32_logits(path, scorer.x, self.threads))
        rep["fp32_check"] = {"sqnr_db_vs_original": check.sqnr_db, "top1_agreement": check.top1_agreement}
        if rep.get("relu6_replaced") and (check.top1_agreement or 0) < 1.0:
            self.report["warnings"].append(
                f"relu6_as_relu=True CHANGED the float model: {rep['relu6_replaced']} ReLU6 turned into ReLU, "
                f"fp32 top-1 agreement with the original {check.top1_agreement:.3f}, SQNR {check.sqnr_db:.1f} dB "
                "(measured before quantizing)"
            )
        self.report["steps"].append({"type": "equalize", "report": rep, "seconds": round(time.perf_counter() - t0, 2)})
        self._unequalized = fp32
        return path

    def _equalize_effect(
        self, calib: np.ndarray, scorer: Scorer, with_pass: dict[str, Any]
    ) -> tuple[Path, Path, Path, dict[str, Any]] | None:
        """Measure int8 with and without equalization; revert it (loudly) when it lowered fidelity."""
        prepared, cache = self._prepare(self._unequalized, "unequalized")
        path = quantize_qdq(prepared, self.work / "unequalized.int8.onnx", calib, self.config, cache_path=cache)
        without = scorer.score(path)
        step = self.report["steps"][-1]
        step["effect"] = _effect(without, with_pass)
        if _fidelity_key(with_pass) >= _fidelity_key(without):
            step["report"]["kept"] = True
            return None
        step["report"]["kept"] = False
        self.report["warnings"].append(
            f"equalization (relu6_as_relu={step['report'].get('relu6_replaced', 0) > 0}) lowered int8 fidelity "
            f"on {scorer.x.shape[0]} samples: agreement {with_pass.get('top1_agreement')} vs "
            f"{without.get('top1_agreement')} without, SQNR {with_pass['sqnr_db']:.2f} vs {without['sqnr_db']:.2f} dB; "
            "REVERTED (the unequalized model is used)"
        )
        return prepared, cache, path, without

    def _bias_correct(
        self, prepared: Path, int8: Path, calib: np.ndarray, cache: Path, scorer: Scorer, before: dict[str, Any]
    ) -> tuple[Path, Path, dict[str, Any]]:
        """Correct, re-quantize, and keep the result only if fidelity improved (the correction ignores the
        activation-quantization error it interacts with, so on some models it does not help)."""

        t0 = time.perf_counter()
        corrected_fp32 = self.work / "model.bias_corrected.prepared.onnx"
        rep = correct_biases(prepared, int8, calib, corrected_fp32)
        out = quantize_qdq(corrected_fp32, self.work / "int8.bias_corrected.onnx", calib, self.config, cache_path=cache)
        after = scorer.score(out)
        kept = after["sqnr_db"] >= before["sqnr_db"]
        self.report["steps"].append(
            {
                "type": "bias_correction",
                "report": {**rep, "kept": kept},
                "effect": _effect(before, after),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
        if not kept:
            self.report["warnings"].append(
                f"bias correction lowered SQNR on {scorer.x.shape[0]} samples ({before['sqnr_db']:.2f} -> "
                f"{after['sqnr_db']:.2f} dB): REVERTED (the uncorrected model is used)"
            )
            return prepared, int8, before
        return corrected_fp32, out, after

    def _round(
        self, prepared: Path, int8: Path, calib: np.ndarray, scorer: Scorer, before: dict[str, Any], config: PTQConfig
    ) -> tuple[Path, dict[str, Any]]:
        """GPTQ weight rounding (edgecnn/quant/rounding.py), kept only if fidelity does not get worse."""
        t0 = time.perf_counter()
        out = int8.with_name(int8.stem + ".gptq.onnx")
        rep = self._gptq(prepared, int8, calib, config, out, hessians=self._hessians.setdefault(prepared, {}))
        after = scorer.score(out)
        worse = [k for k in ("sqnr_db", "top1_agreement", "top1") if k in before and after[k] < before[k]]
        rep["kept"] = not worse
        rep["per_layer"] = rep["per_layer"][:64]
        self.report["steps"].append(
            {
                "type": "rounding",
                "report": rep,
                "effect": _effect(before, after),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
        if worse:
            self.report["warnings"].append(
                f"gptq rounding made {', '.join(worse)} worse on the check data (SQNR {before['sqnr_db']:.2f} -> "
                f"{after['sqnr_db']:.2f} dB, agreement {before['top1_agreement']:.3f} -> "
                f"{after['top1_agreement']:.3f}); kept nearest rounding"
            )
            return int8, before
        return out, after

    def _latency(
        self,
        prepared: Path,
        int8: Path,
        calib: np.ndarray,
        cache: Path,
        config: PTQConfig,
        scorer: Scorer,
        budget: Budget,
        fallback: bool,
        *,
        first: dict[str, Any] | None = None,
    ) -> Path:
        x1 = calib[:1]
        if first is None:  # the search already timed the model it chose
            first = compare_latency(
                self.source.path, int8, x1, backend=self.tgt.backend, device=self.tgt.device, threads=self.threads
            )
        self.report["latency"] = {
            "chosen": "default",
            "candidates": {"default": {**first, "profile": config.profile.label}},
        }
        if "skipped" in first:
            self.report["latency"]["skipped"] = first["skipped"]
            return int8
        best, best_path = first, int8
        if not first["faster"] and fallback:
            for name, cand in self._alternatives(config):
                path = quantize_qdq(prepared, self.work / f"int8.{name}.onnx", calib, cand, cache_path=cache)
                metrics = scorer.score(path)
                gate = budget.check(metrics, scorer.reference_top1) if budget.active else None
                timing = compare_latency(
                    self.source.path, path, x1, backend=self.tgt.backend, device=self.tgt.device, threads=self.threads
                )
                self.report["latency"]["candidates"][name] = {
                    **timing,
                    "profile": cand.profile.label,
                    "op_types": list(cand.op_types or []),
                    "fidelity": metrics,
                    "budget": gate,
                }
                if (gate is None or gate["passed"]) and timing.get("ratio", np.inf) < best["ratio"]:
                    best, best_path = timing, path
                    self.report["latency"]["chosen"] = name
                    self.report["config"] = cand.to_dict()
                    self.report["fidelity"], self.report["accuracy"] = metrics, _accuracy_report(metrics, scorer)
                    self.report["graph"] = count_qdq(path)
        self.report["latency"].update(
            {
                "fp32_p50_ms": best["fp32_p50_ms"],
                "int8_p50_ms": best["p50_ms"],
                "ratio": best["ratio"],
                "speedup": best["speedup"],
                "faster": best["faster"],
            }
        )
        if not best["faster"]:
            self.report["warnings"].append(
                f"int8 is SLOWER than fp32 on {self.tgt.backend}: {best['p50_ms']:.3f} ms vs "
                f"{best['fp32_p50_ms']:.3f} ms (ratio {best['ratio']:.2f}); "
                f"tried {', '.join(self.report['latency']['candidates'])}"
            )
        return best_path

    def _alternatives(self, config: PTQConfig) -> list[tuple[str, PTQConfig]]:
        out = []
        if not self.tgt.fixed_activation_format:
            other = S8S8_SYMMETRIC if config.profile.activation_type == "uint8" else U8S8
            out.append((other.name, config.with_changes(profile=other)))
        out.append(("compute_ops_only", config.with_changes(op_types=COMPUTE_OPS)))
        return out


def _fp16(
    source: _Source,
    work: Path,
    report: dict[str, Any],
    eval_x: np.ndarray | None,
    eval_y: np.ndarray | None,
    calib_data: Any,
    *,
    keep_io_types: bool,
    tgt: Any,
    threads: int | None,
    check_latency: bool,
) -> Path:

    path = work / "fp16.onnx"
    t0 = time.perf_counter()
    report["steps"].append(
        {
            "type": "fp16",
            "report": convert_fp16(source.path, path, keep_io_types=keep_io_types),
            "seconds": round(time.perf_counter() - t0, 2),
        }
    )
    x = (
        eval_x
        if eval_x is not None
        else load_calibration(calib_data, source.input, preprocess=source.preprocess, size=EVAL_SAMPLES)
    )
    if not keep_io_types:
        report["fidelity"] = None
        report["accuracy"] = {"reason": "inputs are fp16 (keep_io_types=False): evaluate with fp16 inputs"}
        return path
    scorer = Scorer(x, _fp32_logits(source.teacher, x, threads), eval_y, threads)
    metrics = scorer.score(path)
    report["evaluation"] = {
        "data": "eval_data" if eval_x is not None else f"calibration data ({_describe_source(calib_data)})",
        "samples": int(len(x)),
    }
    report["fidelity"], report["accuracy"] = metrics, _accuracy_report(metrics, scorer)
    if check_latency:
        timing = compare_latency(source.path, path, x[:1], backend=tgt.backend, device=tgt.device, threads=threads)
        report["latency"] = timing
        if timing.get("faster") is False:
            report["warnings"].append(
                f"fp16 is SLOWER than fp32 on {tgt.backend}/{tgt.device}: {timing['p50_ms']:.3f} ms vs "
                f"{timing['fp32_p50_ms']:.3f} ms (CPUs without fp16 arithmetic run it through casts)"
            )
    return path


def _accuracy_report(metrics: dict[str, Any], scorer: Scorer) -> dict[str, Any] | None:
    if "top1" not in metrics:
        return None
    ref = scorer.reference_top1
    return {"fp32_top1": ref, "top1": metrics["top1"], "drop_points": ref - metrics["top1"]}


def _fidelity_key(metrics: dict[str, Any]) -> tuple[float, float]:
    first = metrics.get("top1", metrics.get("top1_agreement"))
    return (-np.inf if first is None else first, metrics.get("sqnr_db", -np.inf))


def _effect(without: dict[str, Any], with_pass: dict[str, Any]) -> dict[str, Any]:
    out = {
        "sqnr_db": {"without": without["sqnr_db"], "with": with_pass["sqnr_db"]},
        "top1_agreement": {"without": without["top1_agreement"], "with": with_pass["top1_agreement"]},
    }
    if "top1" in without and "top1" in with_pass:
        out["top1"] = {"without": without["top1"], "with": with_pass["top1"]}
    return out


def _describe_source(source: Any) -> str:
    if source is None:
        return "default photo set (edgecnn/data/calibration, random resized crops + flips)"
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    return type(source).__name__


def _provenance(report: dict[str, Any]) -> dict[str, Any]:
    keep = ("precision", "target", "profile", "config", "calibration", "fidelity", "accuracy", "latency", "warnings")
    return {k: report.get(k) for k in keep if k in report}

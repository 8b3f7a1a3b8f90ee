"""The runner: load -> torch passes -> export -> quantize -> compile for target -> validate -> evaluate
-> profile (optimized AND float baseline, same backend, interleaved) -> bundle -> report.

Each stage is a plain call into the public API; this module only sequences them and records results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecnn.analysis.summary import count_params_macs
from edgecnn.artifact import Artifact
from edgecnn.bundles.writer import write_bundle
from edgecnn.config import StepBase
from edgecnn.errors import InvalidInputError, first_line
from edgecnn.evaluation.api import check_labels, evaluate, load_eval_data, predict
from edgecnn.fileio import check_out_dir, relocate_paths, sha256_file, staged_dir
from edgecnn.metrics import flat_outputs, measure_fidelity, size_ratio
from edgecnn.passes import PASSES
from edgecnn.passes.base import PassContext
from edgecnn.pipeline.recipe import Recipe
from edgecnn.pipeline.routes import choose_route
from edgecnn.profiling.api import profile
from edgecnn.profiling.environment import fingerprint
from edgecnn.quant.api import QuantizationResult, keep_more_faithful, quantize
from edgecnn.quant.calibration import default_calibration_with_sources, input_spec_of_onnx, load_calibration
from edgecnn.quant.config import QuantizeStep
from edgecnn.report.build import new_report, validate_report, write_report
from edgecnn.runtime import load_session
from edgecnn.spec import ModelSpec, Preprocess, as_spec
from edgecnn.targets import get_target
from edgecnn.zoo.loader import load_model

if TYPE_CHECKING:
    from edgecnn.report.schema import Report

log = logging.getLogger("edgecnn.pipeline")

VALIDATION_SAMPLES = 64


@dataclass
class OptimizationResult:
    """What `edgecnn.optimize` returns: the report (also on disk), artifacts, and the headline numbers."""

    report: dict[str, Any]
    out_dir: Path
    report_paths: dict[str, Path] = field(default_factory=dict)
    artifacts: dict[str, Artifact] = field(default_factory=dict)

    @property
    def speedup(self) -> float | None:
        return self.report.get("speedup")

    @property
    def baseline(self) -> dict[str, Any] | None:
        return self.report.get("baseline")

    @property
    def optimized(self) -> dict[str, Any] | None:
        return self.report.get("optimized")

    @property
    def accuracy(self) -> dict[str, Any]:
        return {
            "baseline": (self.baseline or {}).get("accuracy"),
            "optimized": (self.optimized or {}).get("accuracy"),
            "delta": self.report.get("accuracy_delta"),
            "fidelity": self.report.get("fidelity"),
        }

    @property
    def gates_passed(self) -> bool:
        return all(g["passed"] is not False for g in self.report.get("gates", []))

    @property
    def report_path(self) -> Path | None:
        return self.report_paths.get("json")

    @property
    def typed_report(self) -> Report:
        """The report as the typed `edgecnn.report.schema.Report` (what report.json holds)."""

        return validate_report(self.report)


class _Stages:
    """Numbered stage logging, '[3/10] export ...', and each stage's duration for the report."""

    NAMES = (
        "load",
        "transforms",
        "export",
        "quantize",
        "compile",
        "validate",
        "routes",
        "evaluate",
        "profile",
        "write",
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str, detail: str = "") -> Iterator[None]:
        log.info("[%d/%d] %s%s", self.NAMES.index(name) + 1, len(self.NAMES), name, f": {detail}" if detail else "")
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 2)


def run_recipe(
    recipe: Recipe,
    *,
    out_dir: str | Path = "edgecnn-out",
    model: ModelSpec | Any | None = None,
    calib_data: np.ndarray | Iterable[np.ndarray] | str | None = None,
    eval_data: Any = None,
    keep_failed: bool = False,
    screen: Callable[[dict[str, Any], dict[str, Any]], None] | None = None,
) -> OptimizationResult:
    """Run a validated recipe. `model`, `calib_data` and `eval_data` override the recipe's (API use:
    in-memory modules and arrays). Gates are recorded, not raised: see `OptimizationResult.gates_passed`.

    The run is built in a folder beside `out_dir` and swapped in only when it finished: a failed or interrupted
    run leaves an earlier run in `out_dir` byte for byte as it was (`keep_failed`: the partial run is kept as
    `<out_dir>.failed` instead of deleted). `out_dir` is checked before any work: it must be a new or empty
    folder, or hold an earlier run (report.json), since it is replaced as a whole.

    `screen(fidelity, accuracy)`, called after validation and before profiling, may raise to stop a run that
    is already over an accuracy budget before its latency is paid for (`edgecnn search`).
    """

    out = check_out_dir(out_dir, flag="out_dir", marker="report.json")
    with staged_dir(out, keep_failed=keep_failed) as work:
        return _run(recipe, out, work, model, calib_data, eval_data, screen)


def _run(
    recipe: Recipe, out: Path, work: Path, model: Any, calib_data: Any, eval_data: Any, screen: Any = None
) -> OptimizationResult:
    """The stages, writing every file under `work`; paths in the report and the result already name `out`."""
    target = get_target(recipe.target)
    stage = _Stages()
    if target.device == "remote" and not recipe.device:
        raise InvalidInputError(
            f"target {target.name} runs on a device: give --device tcp://HOST:PORT (start it there with "
            "`edgecnn agent serve --host 0.0.0.0 --port 7788 --token T`)"
        )

    with stage("load", recipe.model.name):
        original, onnx_input = _load(recipe, model)
    spec_dict = _model_dict(original, onnx_input)
    report = new_report(
        model=spec_dict,
        recipe=recipe.model_dump(mode="json"),
        target=target.name,
        environment=fingerprint(threads=recipe.profile.threads),
    )
    if spec_dict.get("weights") == "random":
        report["notes"].append(
            "RANDOM weights (no pretrained weights offline): accuracy and agreement figures are not meaningful"
        )
    input_spec, preprocess = _io_spec(original, onnx_input)
    calib, calib_groups = _calibration(recipe, input_spec, preprocess, calib_data)
    evaluation = _eval_data(recipe, original if original is not None else onnx_input, eval_data)

    spec, pre_qat = original, None
    torch_steps = recipe.torch_steps
    quant_step = next(iter(recipe.onnx_steps), None)
    with stage("transforms", ", ".join(s.type for s in torch_steps) or "none"):
        if torch_steps:
            if onnx_input:
                raise InvalidInputError("torch passes (fold_bn, prune, ...) need a PyTorch model, not an ONNX file")
            spec, pre_qat = _run_torch_steps(spec, torch_steps, calib, recipe, report)

    artifacts: dict[str, Artifact] = {}
    pre_qat_fp32: Artifact | None = None
    with stage("export", "fp32 ONNX"):
        dynamic = recipe.profile.batch > 1
        if onnx_input:
            artifacts["baseline"] = Artifact.from_path(onnx_input, target=target.name)
        else:
            from edgecnn.exporters.onnx import export_onnx

            artifacts["baseline"] = export_onnx(
                original, work / "baseline.fp32.onnx", dynamic_batch=dynamic, inputs=calib[:1]
            )
            if torch_steps:
                artifacts["transformed"] = export_onnx(
                    spec, work / "model.fp32.onnx", dynamic_batch=dynamic, inputs=calib[:1]
                )
            if pre_qat is not None and quant_step:
                pre_qat_fp32 = export_onnx(
                    pre_qat, work / "model.pre_qat.fp32.onnx", dynamic_batch=dynamic, inputs=calib[:1]
                )
    float_model = artifacts.get("transformed", artifacts["baseline"])

    optimized = float_model
    if quant_step:
        with stage("quantize", f"{quant_step.precision} for {target.name}"):
            optimized = _quantize(
                float_model,
                quant_step,
                target.name,
                calib,
                evaluation,
                work,
                report,
                seed=recipe.seed,
                threads=recipe.profile.threads,
                calib_groups=calib_groups,
                pre_qat=pre_qat_fp32,
            )
            artifacts["quantized"] = optimized
            if pre_qat_fp32 is not None:  # QAT's fine-tuned float model is no deliverable: the model before it is
                artifacts["transformed"].path.unlink()
                float_model = artifacts["transformed"] = pre_qat_fp32

    with stage("compile", target.name):
        deploy_base, deployable, device = _compile(target, artifacts["baseline"], optimized, recipe, work, report)
    artifacts["optimized"] = deployable

    def validate(deployable: Artifact, optimized: Artifact) -> dict:
        return _validate(
            original,
            artifacts["baseline"],
            deployable,
            optimized,
            target,
            calib[:VALIDATION_SAMPLES],
            spec_dict.get("weights") != "random",
            recipe.profile.threads,
        )

    with stage("validate", f"{min(len(calib), VALIDATION_SAMPLES)} real inputs vs the float reference"):
        report["fidelity"] = validate(deployable, optimized)

    if quant_step and quant_step.precision == "int8" and target.int8_routes:
        with stage("routes", f"int8 routes on {target.name}: qdq, " + ", ".join(target.int8_routes)):
            routed = _other_routes(target, pre_qat or spec, deployable, report, device, calib, recipe, work, validate)
            if routed is not None:
                deployable = optimized = artifacts["optimized"] = routed

    with stage("evaluate", "labelled data" if evaluation else "no labelled data"):
        accuracy = _evaluate(evaluation, spec_dict.get("weights"), baseline=artifacts["baseline"], optimized=optimized)
    if screen is not None:
        screen(report["fidelity"], accuracy)

    with stage("profile", "baseline vs optimized, interleaved" if device else "skipped (see not done)"):
        prof = _profile(deploy_base, deployable, target, device, calib, recipe) if device else None
        delivery = _delivery(prof, deployable)
        if delivery.fallback:  # the reduced-precision model lost to float on the target: the float model ships
            report["variants"].append(_lost_variant(deployable, prof, report["fidelity"], accuracy["optimized"]))
            if deployable.path != optimized.path:
                artifacts["variant"] = deployable
            optimized = float_model
            deployable = _float_deployable(target, artifacts["baseline"], float_model, deploy_base, work)
            artifacts["optimized"] = deployable
            if deployable.path != deploy_base.path:  # the transformed float model: time it against the baseline
                prof = _profile(deploy_base, deployable, target, device, calib, recipe)
    if delivery.fallback:
        report["notes"].append(f"DELIVERED fp32, not {delivery.requested}: {delivery.why}")
        with stage("validate", f"the delivered float model on {min(len(calib), VALIDATION_SAMPLES)} real inputs"):
            report["fidelity"] = validate(deployable, optimized)
        if optimized.path == artifacts["baseline"].path:
            accuracy["optimized"] = accuracy["baseline"]
        else:
            accuracy.update(_evaluate(evaluation, spec_dict.get("weights"), optimized=optimized))
    if prof is not None:
        report["notes"] += prof.notes
        report["environment"] = prof.environment  # includes the thread count the profile actually used
        if prof.device_environment:
            report["device_environment"] = prof.device_environment
    profiled = prof.to_dict() if prof is not None else {}
    if delivery.fallback and deployable.path == deploy_base.path:
        profiled["optimized"] = profiled.get("baseline")  # the baseline itself ships: one artifact, one measurement
    report["baseline"] = _side(
        artifacts["baseline"], profiled.get("baseline"), accuracy["baseline"], original if not onnx_input else None
    )
    report["baseline"]["made"] = _baseline_made(artifacts["baseline"], deploy_base)
    report["optimized"] = _side(
        deployable, profiled.get("optimized"), accuracy["optimized"], spec if not onnx_input else None
    )
    report["deliverable"] = delivery.to_dict(deployable)
    _headline(report, (profiled.get("comparison") or {}).get("verdict"))
    _gates(report, recipe)

    with stage("write", str(out)):
        for role, art in artifacts.items():
            if role in ("transformed", "quantized") and art.path == artifacts["optimized"].path:
                continue  # the file that ships: listed once, as "optimized"
            report["artifacts"].append(art.to_dict(role=role))
        if recipe.bundle:
            report["artifacts"].append(_bundle(deployable, optimized, original, work))
        report["stage_seconds"] = stage.seconds
        report = relocate_paths(report, work, out)  # the files are read where they end up, in `out`
        typed = validate_report(report)  # an InternalError naming the field, before anything is written
        paths = {kind: out / path.name for kind, path in write_report(typed, work).items()}
    moved = {
        role: dataclasses.replace(
            art, path=relocate_paths(str(art.path), work, out), provenance=relocate_paths(art.provenance, work, out)
        )
        for role, art in artifacts.items()
    }
    return OptimizationResult(report=typed.to_dict(), out_dir=out, report_paths=paths, artifacts=moved)


def failed_gates_message(result: OptimizationResult) -> str | None:
    """One line naming each failed gate, or None when all passed (the CLI exits 3 on it)."""
    failed = [g for g in result.report["gates"] if g["passed"] is False]
    if not failed:
        return None
    return (
        "; ".join(f"{g['name']} {_fmt(g['value'])} vs threshold {g['threshold']}" for g in failed)
        + f" (report: {result.report_path})"
    )


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


# ---------------------------------------------------------------- stages


def _load(recipe: Recipe, model: Any) -> tuple[ModelSpec | None, Path | None]:

    if model is not None:
        shape = tuple(recipe.model.input_shape) if recipe.model.input_shape else None
        return as_spec(model, input_shape=shape, name=recipe.model.name), None
    name = recipe.model.name
    if name.endswith(".onnx"):
        path = Path(name)
        if not path.exists():
            raise InvalidInputError(f"ONNX model not found: {path}")
        _check_onnx(path)
        return None, path

    shape = tuple(recipe.model.input_shape) if recipe.model.input_shape else None
    return load_model(
        name,
        weights=recipe.model.weights,
        arch=recipe.model.arch,
        input_shape=shape,
        num_classes=recipe.model.num_classes,
        seed=recipe.seed,
    ), None


def _check_onnx(path: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # DecodeError, ValidationError, ...: all mean the file is not a usable model
        why = first_line(exc)
        raise InvalidInputError(f"{path} is not a valid ONNX model: {why}") from None


def _model_dict(spec: ModelSpec | None, onnx_input: Path | None) -> dict[str, Any]:
    if spec is None:
        from edgecnn.fileio import sha256_file

        return {
            "name": onnx_input.stem,
            "source": f"onnx:{onnx_input}",
            "sha256": sha256_file(onnx_input),
            "params": None,
            "macs": None,
            "input": None,
            "weights": "file",
        }

    params, macs = count_params_macs(spec)
    return {**spec.describe(), "params": params, "macs": macs}


def _io_spec(spec: ModelSpec | None, onnx_input: Path | None):
    if spec is not None:
        return spec.input, spec.preprocess

    input_spec = input_spec_of_onnx(onnx_input)
    return input_spec, (
        Preprocess(resize=int(input_spec.shape[-1] * 256 / 224), crop=input_spec.shape[-1])
        if input_spec.layout == "NCHW"
        else None
    )


def _calibration(recipe: Recipe, input_spec, preprocess, override) -> tuple[np.ndarray, np.ndarray | None]:
    """The calibration samples and, for the default photos, the source photo of each (quantize's held-out
    split keeps every crop of one photo on one side)."""
    source = override if override is not None else recipe.data.calib
    size, seed = recipe.data.calib_size, recipe.seed
    if source is None and input_spec.layout == "NCHW":
        return default_calibration_with_sources(input_spec, preprocess, size=size, seed=seed)
    return load_calibration(source, input_spec, preprocess=preprocess, size=size, seed=seed), None


def _eval_data(recipe: Recipe, model: Any, override) -> tuple[np.ndarray, np.ndarray] | None:
    source = override if override is not None else recipe.data.eval
    if source is None:
        return None

    x, y = load_eval_data(source, model)
    if y is None:
        raise InvalidInputError(f"evaluation data {source} has no labels (use an ImageFolder or a .npz with x and y)")
    if isinstance(model, ModelSpec) and model.labels:  # labels out of range: refused before any step runs
        check_labels(y, len(x), classes=len(model.labels))
    return x, y


def _run_torch_steps(
    spec: ModelSpec, steps: list[StepBase], calib: np.ndarray, recipe: Recipe, report: dict
) -> tuple[ModelSpec, ModelSpec | None]:
    """The transformed model, and the model the qat step fine-tuned when qat is the last step (None otherwise):
    QAT changes the function, so its int8 model is measured against post-training int8 of that model."""
    ctx = PassContext(calib_data=calib, train_data=calib, seed=recipe.seed, teacher=spec)
    ctx.seed_everything()
    pre_qat = None
    for step in steps:
        pre_qat = spec if step.type == "qat" else None
        spec = PASSES.get(step.type)(step).apply(spec, ctx)
    report["steps"] += ctx.reports
    return spec, pre_qat


def _quantize(
    float_model: Artifact,
    step: QuantizeStep,
    target: str,
    calib: np.ndarray,
    evaluation,
    out: Path,
    report: dict,
    *,
    seed: int,
    threads: int | None,
    calib_groups: np.ndarray | None = None,
    pre_qat: Artifact | None = None,
) -> Artifact:
    """The quantize step; after a qat step, `pre_qat` is the model before fine-tuning: fidelity compares with it,
    and its post-training int8 is kept instead when fine-tuning made agreement worse."""

    advanced = step.advanced
    defaults = {"calib_size": len(calib), "seed": seed, "threads": threads}  # the recipe's, unless the step sets them
    advanced = advanced.replace(**{k: v for k, v in defaults.items() if getattr(advanced, k) is None})
    started = time.perf_counter()

    def run(model: Artifact, path: Path, reference: Artifact | None = None) -> QuantizationResult:
        return quantize(
            model,  # with its provenance: quantize's search knows random weights when the export says so
            target=target,
            calib_data=calib,
            out=path,
            eval_data=evaluation,
            advanced=advanced,
            calib_groups=calib_groups,
            reference=reference,
            **step.settings.options(),
        )

    path = out / f"model.{step.precision}.onnx"
    result = run(float_model, path, reference=pre_qat)
    if pre_qat is not None:  # QAT changes the function: kept only if more faithful than post-training int8
        post = run(pre_qat, out / f"model.post_training.{step.precision}.onnx")
        result = keep_more_faithful(result, post, {})
        if result is post:
            os.replace(post.artifact.path, path)
            result.artifact = dataclasses.replace(post.artifact, path=path)
            result.report["artifact"]["path"] = str(path)
        else:
            post.artifact.path.unlink()
    report["steps"].append(
        {
            "type": step.type,
            "config": step.options(),
            "report": result.report,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    report["notes"] += [f"WARNING (quantize): {w}" for w in result.report.get("warnings", [])]
    return result.artifact


def _other_routes(target, spec, qdq: Artifact, report, device, calib, recipe: Recipe, work: Path, validate):
    """The target's other int8 routes, timed against the QDQ route here: the artifact to ship instead, or None."""
    if spec is None or device != "cpu":
        why = "needs the PyTorch model" if spec is None else "route timing runs on this machine, not on a device"
        report["notes"].append(f"int8 routes: only the QDQ route was built ({', '.join(target.int8_routes)} {why})")
        return None
    p = recipe.profile
    choice = choose_route(
        target,
        spec,
        qdq,
        report["fidelity"],
        calib=calib,
        validate=lambda art: validate(art, art),
        out=work,
        protocol=p.protocol(),
        batch=p.batch,
        threads=p.threads,
    )
    report["variants"] += choice.variants
    if choice.note:
        report["notes"].append(choice.note)
    if choice.deployable is qdq:
        return None
    report["fidelity"] = choice.fidelity
    return choice.deployable


def _compile(target, baseline: Artifact, optimized: Artifact, recipe: Recipe, out: Path, report: dict):
    """The target's deployable baseline and optimized artifacts, and the device to time them on (None: not here)."""
    compiled = target.compile(baseline, optimized, out, device=recipe.device)
    report["notes"] += compiled.notes
    report["not_done"] += compiled.not_done
    return compiled.baseline, compiled.optimized, compiled.device


def _validate(
    original,
    baseline: Artifact,
    deployable: Artifact,
    optimized: Artifact,
    target,
    x: np.ndarray,
    meaningful: bool,
    threads: int | None,
) -> dict[str, Any]:
    """Optimized outputs vs the float reference (PyTorch, or the input ONNX) on real inputs."""

    if original is not None:
        # threads stay the process's: the torch backend would set them globally
        with load_session(original, backend="torch") as session:
            ref, reference = predict(session, x, batch=16), "pytorch"
    else:
        with load_session(baseline, backend="onnxruntime", threads=threads) as session:
            ref, reference = predict(session, x), "input onnx (fp32)"
    check = target.validation(deployable, optimized)
    with load_session(check.artifact, backend=check.backend, threads=threads, **check.options) as session:
        result = measure_fidelity(ref, np.concatenate([session.run(x[i : i + 1])[0] for i in range(len(x))])).to_dict()
    flat = flat_outputs(ref)
    result.update({"reference": reference, "runtime": check.where, "meaningful": meaningful and flat is None})
    if not meaningful:
        result["reason"] = "random weights: near-flat outputs make agreement meaningless"
    elif flat:
        result["reason"] = f"{flat}: agreement is not meaningful"
    return result


def _evaluate(evaluation, weights, **roles: Artifact) -> dict[str, Any]:
    """Top-1 (and top-5) of each role's artifact on the labelled data, or why there is none."""
    if evaluation is None:
        return {role: {"top1": None, "reason": "no labelled data (--eval-data)"} for role in roles}

    x, y = evaluation
    out = {}
    for role, art in roles.items():
        out[role] = evaluate(art, x, labels=y)["accuracy"]
        if weights == "random":
            out[role]["reason"] = "random weights: not meaningful"
    return out


def _profile(baseline: Artifact, optimized: Artifact, target, device: str, calib: np.ndarray, recipe: Recipe):

    p = recipe.profile
    protocol = p.protocol()
    x = np.ascontiguousarray(calib[: p.batch])
    return profile(
        optimized,
        target=target.name,
        baseline=baseline,
        protocol=protocol,
        threads=p.threads,
        inputs=x,
        device=device,
        token=recipe.agent_token,
    )


@dataclass(frozen=True)
class _Delivery:
    """Which model ships as "optimized": the requested reduced-precision one only when the pipeline's own
    interleaved comparison on the target found it faster than float; otherwise the float model (`fallback`)."""

    requested: str
    why: str
    fallback: bool = False
    comparison: dict[str, Any] | None = None

    def to_dict(self, delivered: Artifact) -> dict[str, Any]:
        cmp = self.comparison or {}
        return {
            "artifact": str(delivered.path),
            "format": delivered.format,
            "precision": delivered.precision,
            "requested": self.requested,
            "why": self.why,
            "ratio": cmp.get("ratio"),
            "ratio_ci": cmp.get("ratio_ci"),
            "verdict": cmp.get("verdict"),
        }


def _delivery(prof: Any, deployable: Artifact) -> _Delivery:
    """Read the profile's baseline-vs-optimized `Comparison`: "faster" needs the whole interval below 1."""
    precision = deployable.precision
    if precision == "fp32":
        return _Delivery(precision, "no reduced-precision step: the float model is the result")
    cmp = prof.comparison if prof is not None else None
    if cmp is None:
        return _Delivery(precision, f"{precision} delivered without a speed measurement (not timed on this machine)")
    measured = (
        f"{precision} measured {cmp.speedup:.2f}x of fp32 on {prof.target} (ratio {cmp.ratio:.2f}, "
        f"{cmp.confidence:.0%} interval [{cmp.ci_low:.2f}, {cmp.ci_high:.2f}])"
    )
    verdict = cmp.verdict()
    if verdict == "faster":
        return _Delivery(precision, f"{measured}: faster, delivered", comparison=cmp.to_dict())
    word = "slower" if verdict == "slower" else "not faster"
    return _Delivery(
        precision, f"{measured}: {word}, so the float model was delivered", fallback=True, comparison=cmp.to_dict()
    )


def _lost_variant(deployable: Artifact, prof: Any, fidelity: dict[str, Any] | None, accuracy: Any) -> dict[str, Any]:
    """The reduced-precision model that lost to float: a variant with its measured ratio, not the deliverable."""
    cmp = prof.comparison
    return {
        "name": f"{deployable.precision} (not delivered: not faster than fp32)",
        "size_bytes": deployable.bytes,
        "p50_ms": cmp.b.p50,
        "accuracy": (accuracy or {}).get("top1"),
        "top1_agreement": (fidelity or {}).get("top1_agreement"),
        "sqnr_db": (fidelity or {}).get("sqnr_db"),
        "latency_ratio": cmp.ratio,
        "chosen": False,
        "path": str(deployable.path),
    }


def _float_deployable(target, baseline: Artifact, float_model: Artifact, deploy_base: Artifact, work: Path) -> Artifact:
    """The float model as the target runs it: the compiled baseline, or the transformed model compiled apart
    (under fp32/, so the reduced-precision variant's files stay as they are)."""
    if float_model.path == baseline.path:
        return deploy_base
    compiled = target.compile(baseline, float_model, work / "fp32")
    if compiled.baseline.path != deploy_base.path:  # a second copy of the compiled baseline: not needed
        for f in compiled.baseline.files:
            f.unlink()
    return compiled.optimized


def _baseline_made(baseline: Artifact, deployable: Artifact) -> str:
    """How the float baseline was made, for the report: a plain export, never a handicapped one."""
    prov = baseline.provenance or {}
    if "exporter" not in prov:
        made = f"the input model {baseline.path.name}, unchanged"
    else:
        made = (
            f"plain fp32 export of the original model in eval mode ({prov['exporter']}, opset {prov.get('opset')}, "
            f"constant folding; simplified by {prov.get('simplifier')}), no edgecnn passes"
        )
    if deployable.path != baseline.path:
        made += f"; compiled for the target as {deployable.format} ({deployable.path.name})"
    return made + "; timed with the same session options as the optimized model"


def _side(artifact: Artifact, profiled: dict[str, Any] | None, accuracy, spec) -> dict[str, Any]:

    params, macs = count_params_macs(spec) if spec is not None else (None, None)
    side: dict[str, Any] = {"latency_ms": None, "throughput": None, "times_ms": None, "memory": None}
    side.update(profiled or {})
    side.update(
        {
            "backend": (side.get("session") or {}).get("backend"),
            "precision": artifact.precision,
            "format": artifact.format,
            "size_bytes": artifact.bytes,
            "params": params,
            "macs": macs,
            "accuracy": accuracy,
        }
    )
    return side


def _headline(report: dict[str, Any], verdict: str | None) -> None:
    """Speed-up, size ratio, accuracy delta and the variants table; `verdict`: the interleaved comparison's."""
    b, o = report["baseline"], report["optimized"]
    if b.get("latency_ms") and o.get("latency_ms"):
        report["speedup"] = b["latency_ms"]["p50"] / o["latency_ms"]["p50"]
        if verdict == "slower" or (verdict is None and report["speedup"] < 1):
            report["notes"].append(
                f"WARNING: the optimized model is SLOWER than its float baseline ({report['speedup']:.2f}x)"
            )
        elif report["speedup"] < 1:
            report["notes"].append(
                f"the optimized model is not measurably faster than its float baseline ({report['speedup']:.2f}x, "
                "within the noise of the interleaved comparison)"
            )
    report["size_ratio"] = size_ratio(o["size_bytes"], b.get("size_bytes"))
    ba, oa = (b.get("accuracy") or {}).get("top1"), (o.get("accuracy") or {}).get("top1")
    report["accuracy_delta"] = oa - ba if ba is not None and oa is not None else None
    report["variants"][:0] = [
        {
            "name": "float baseline",
            "size_bytes": b["size_bytes"],
            "p50_ms": (b.get("latency_ms") or {}).get("p50"),
            "accuracy": ba,
        },
        {
            "name": f"optimized ({o['precision']})",
            "size_bytes": o["size_bytes"],
            "p50_ms": (o.get("latency_ms") or {}).get("p50"),
            "accuracy": oa,
        },
    ]
    for step in report["steps"]:
        for v in (step.get("report") or {}).get("variants", []) or []:
            report["variants"].append(v)


def _gates(report: dict[str, Any], recipe: Recipe) -> None:
    g = recipe.gates
    fid = report.get("fidelity") or {}
    if g.max_accuracy_drop is not None:
        if report["accuracy_delta"] is not None:
            report["gates"].append(
                _gate(
                    "max_accuracy_drop",
                    g.max_accuracy_drop,
                    -report["accuracy_delta"],
                    -report["accuracy_delta"] <= g.max_accuracy_drop,
                )
            )
        elif fid.get("top1_agreement") is not None and fid.get("meaningful"):
            drop = 100.0 * (1.0 - fid["top1_agreement"])  # agreement is a fraction; the gate is in points
            report["gates"].append(
                _gate(
                    "max_accuracy_drop (100 - top-1 agreement)", g.max_accuracy_drop, drop, drop <= g.max_accuracy_drop
                )
            )
        else:
            report["gates"].append(
                _gate(
                    "max_accuracy_drop",
                    g.max_accuracy_drop,
                    None,
                    None,
                    "no meaningful accuracy (random weights or no data)",
                )
            )
    speedup = report.get("speedup")
    if g.min_speedup is not None or g.require_speedup:
        threshold = g.min_speedup if g.min_speedup is not None else 1.0
        delivered = report.get("deliverable") or {}
        if delivered.get("requested") not in (None, delivered["precision"]):  # reduced precision lost: gate fails
            lost = 1.0 / delivered["ratio"]
            report["gates"].append(_gate("min_speedup", threshold, lost, False, delivered["why"]))
        elif speedup is None:
            report["gates"].append(_gate("min_speedup", threshold, None, None, "latency not measured on this machine"))
        else:
            report["gates"].append(_gate("min_speedup", threshold, speedup, speedup >= threshold))
    if g.max_size_mb is not None:
        size = report["optimized"]["size_bytes"] / 1e6
        report["gates"].append(_gate("max_size_mb", g.max_size_mb, size, size <= g.max_size_mb))


def _gate(
    name: str, threshold: float, value: float | None, passed: bool | None, reason: str | None = None
) -> dict[str, Any]:
    return {"name": name, "threshold": threshold, "value": value, "passed": passed, "reason": reason}


def _bundle(deployable: Artifact, optimized: Artifact, spec: ModelSpec | None, out: Path) -> dict[str, Any]:
    """A device bundle of what runs on the target (an ONNX or OpenVINO model; engines are built on the device)."""

    portable = deployable if deployable.format in ("onnx", "openvino") else optimized
    path = write_bundle([portable], out / "bundle", spec=spec)
    manifest = path / "manifest.json"
    return {
        "role": "bundle",
        "path": str(path),
        "format": "bundle",
        "precision": portable.precision,
        "target": portable.target,
        "sha256": sha256_file(manifest) if manifest.exists() else None,
        "bytes": sum(f.stat().st_size for f in path.rglob("*") if f.is_file()),
    }

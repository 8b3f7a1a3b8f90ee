"""The runner: load -> torch passes -> export -> quantize -> compile for target -> validate -> evaluate
-> profile (optimized AND float baseline, same backend, interleaved) -> bundle -> report.

Each stage is a plain call into the public API; this module only sequences them and records results.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.errors import DeviceUnavailableError, InvalidInputError
from edgecnn.pipeline.recipe import Recipe
from edgecnn.pipeline.targets import get_target
from edgecnn.spec import ModelSpec

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
        return {"baseline": (self.baseline or {}).get("accuracy"), "optimized": (self.optimized or {}).get("accuracy"),
                "delta": self.report.get("accuracy_delta"), "fidelity": self.report.get("fidelity")}

    @property
    def gates_passed(self) -> bool:
        return all(g["passed"] is not False for g in self.report.get("gates", []))

    @property
    def report_path(self) -> Path | None:
        return self.report_paths.get("json")


class _Stages:
    """Numbered stage logging: '[3/9] export ...' with each stage's duration."""

    NAMES = ("load", "transforms", "export", "quantize", "compile", "validate", "evaluate", "profile", "write")

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, detail: str = ""):
        stages = self

        class _Ctx:
            def __enter__(self_inner):
                self_inner.t0 = time.perf_counter()
                log.info("[%d/%d] %s%s", stages.NAMES.index(name) + 1, len(stages.NAMES), name, f": {detail}" if detail else "")

            def __exit__(self_inner, *exc):
                stages.seconds[name] = round(time.perf_counter() - self_inner.t0, 2)
                return False

        return _Ctx()


def run_recipe(
    recipe: Recipe,
    *,
    out_dir: str | Path = "edgecnn-out",
    model: "ModelSpec | Any | None" = None,
    calib_data: "np.ndarray | Iterable[np.ndarray] | str | None" = None,
    eval_data: Any = None,
) -> OptimizationResult:
    """Run a validated recipe. `model`, `calib_data` and `eval_data` override the recipe's (API use:
    in-memory modules and arrays). Gates are recorded, not raised: see `OptimizationResult.gates_passed`."""
    from edgecnn.profile.environment import fingerprint
    from edgecnn.report.build import new_report, write_report

    out = Path(out_dir)
    target = get_target(recipe.target)
    stage = _Stages()
    if target.device == "remote" and not recipe.device:
        raise InvalidInputError(f"target {target.name} runs on a device: give --device tcp://HOST:PORT (start it there with "
                                "`edgecnn agent serve --host 0.0.0.0 --port 7788 --token T`)")

    with stage("load", recipe.model.name):
        original, onnx_input = _load(recipe, model)
    spec_dict = _model_dict(original, onnx_input)
    report = new_report(model=spec_dict, recipe=recipe.model_dump(mode="json"), target=target.name,
                        environment=fingerprint(threads=recipe.profile.threads))
    if spec_dict.get("weights") == "random":
        report["notes"].append("RANDOM weights (no pretrained weights offline): accuracy and agreement figures are not meaningful")
    input_spec, preprocess = _io_spec(original, onnx_input)
    calib = _calibration(recipe, input_spec, preprocess, calib_data, original)
    evaluation = _eval_data(recipe, input_spec, preprocess, eval_data)

    spec = original
    torch_steps = [s for s in recipe.steps if s["type"] != "quantize"]
    quant_step = next((s for s in recipe.steps if s["type"] == "quantize"), None)
    with stage("transforms", ", ".join(s["type"] for s in torch_steps) or "none"):
        if torch_steps:
            if onnx_input:
                raise InvalidInputError("torch passes (fold_bn, prune, ...) need a PyTorch model, not an ONNX file")
            spec = _run_torch_steps(spec, torch_steps, calib, recipe, report)

    artifacts: dict[str, Artifact] = {}
    with stage("export", "fp32 ONNX"):
        dynamic = recipe.profile.batch > 1
        if onnx_input:
            artifacts["baseline"] = Artifact.from_path(onnx_input, target=target.name)
        else:
            from edgecnn.export.onnx import export_onnx

            artifacts["baseline"] = export_onnx(original, out / "baseline.fp32.onnx", dynamic_batch=dynamic, inputs=calib[:2])
            if torch_steps:
                artifacts["transformed"] = export_onnx(spec, out / "model.fp32.onnx", dynamic_batch=dynamic, inputs=calib[:2])
    float_model = artifacts.get("transformed", artifacts["baseline"])

    optimized = float_model
    if quant_step:
        with stage("quantize", f"{quant_step.get('precision', 'int8')} for {target.name}"):
            optimized = _quantize(float_model, quant_step, target.name, calib, evaluation, out, report)
            artifacts["quantized"] = optimized

    with stage("compile", target.name):
        sessions, deployable = _compile(target, artifacts["baseline"], optimized, recipe, out, report)
    artifacts["optimized"] = deployable

    with stage("validate", f"{min(len(calib), VALIDATION_SAMPLES)} real inputs vs the float reference"):
        report["fidelity"] = _validate(original, onnx_input, artifacts["baseline"], optimized, sessions, calib[:VALIDATION_SAMPLES],
                                       spec_dict.get("weights") != "random")

    accuracy = {"baseline": None, "optimized": None}
    with stage("evaluate", "labelled data" if evaluation else "no labelled data"):
        accuracy = _evaluate(sessions, evaluation, spec_dict.get("weights"), artifacts, optimized)

    with stage("profile", "baseline vs optimized, interleaved" if sessions.get("optimized") else "skipped"):
        stats = _profile(sessions, calib, recipe)

    report["baseline"] = _side(artifacts["baseline"], stats.get("baseline"), sessions.get("baseline"), accuracy["baseline"], original if not onnx_input else None)
    report["optimized"] = _side(deployable, stats.get("optimized"), sessions.get("optimized"), accuracy["optimized"], spec if not onnx_input else None)
    _headline(report)
    _gates(report, recipe)

    with stage("write", str(out)):
        if recipe.bundle:
            artifacts["bundle"] = _bundle(deployable, optimized, original, out, report)
        for role, art in artifacts.items():
            report["artifacts"].append(art.to_dict(role=role))
        report["stage_seconds"] = stage.seconds
        paths = write_report(report, out)
    return OptimizationResult(report=report, out_dir=out, report_paths=paths, artifacts=artifacts)


def failed_gates_message(result: OptimizationResult) -> str | None:
    """One line naming each failed gate, or None when all passed (the CLI exits 3 on it)."""
    failed = [g for g in result.report["gates"] if g["passed"] is False]
    if not failed:
        return None
    return "; ".join(f"{g['name']} {_fmt(g['value'])} vs threshold {g['threshold']}" for g in failed) + f" (report: {result.report_path})"


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


# ---------------------------------------------------------------- stages

def _load(recipe: Recipe, model: Any) -> tuple[ModelSpec | None, Path | None]:
    from edgecnn.spec import as_spec

    if model is not None:
        shape = tuple(recipe.model.input_shape) if recipe.model.input_shape else None
        return as_spec(model, input_shape=shape, name=recipe.model.name), None
    name = recipe.model.name
    if name.endswith(".onnx"):
        path = Path(name)
        if not path.exists():
            raise InvalidInputError(f"ONNX model not found: {path}")
        return None, path
    from edgecnn.zoo.loader import load_model

    shape = tuple(recipe.model.input_shape) if recipe.model.input_shape else None
    return load_model(name, weights=recipe.model.weights, arch=recipe.model.arch, input_shape=shape,
                      num_classes=recipe.model.num_classes), None


def _model_dict(spec: ModelSpec | None, onnx_input: Path | None) -> dict[str, Any]:
    if spec is None:
        from edgecnn.fileio import sha256_file

        return {"name": onnx_input.stem, "source": f"onnx:{onnx_input}", "sha256": sha256_file(onnx_input), "params": None,
                "macs": None, "input": None, "weights": "file"}
    from edgecnn.analysis.summary import count_params_macs

    params, macs = count_params_macs(spec)
    return {**spec.describe(), "params": params, "macs": macs}


def _io_spec(spec: ModelSpec | None, onnx_input: Path | None):
    from edgecnn.spec import InputSpec, Preprocess

    if spec is not None:
        return spec.input, spec.preprocess
    import onnx

    graph = onnx.load(str(onnx_input), load_external_data=False).graph
    inits = {i.name for i in graph.initializer}
    first = next(i for i in graph.input if i.name not in inits)
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in first.type.tensor_type.shape.dim]
    layout = "NCL" if len(dims) == 3 else "NCHW"
    return InputSpec(tuple(dims), layout=layout, name=first.name), (Preprocess(crop=dims[-1]) if layout == "NCHW" else None)


def _calibration(recipe: Recipe, input_spec, preprocess, override, spec) -> np.ndarray:
    from edgecnn.quant.calibration import load_calibration

    source = override if override is not None else recipe.data.calib
    return load_calibration(source, input_spec=input_spec, preprocess=preprocess, size=recipe.data.calib_size, seed=recipe.seed)


def _eval_data(recipe: Recipe, input_spec, preprocess, override) -> tuple[np.ndarray, np.ndarray] | None:
    source = override if override is not None else recipe.data.eval
    if source is None:
        return None
    if isinstance(source, tuple) and len(source) == 2:
        return np.asarray(source[0], dtype=np.float32), np.asarray(source[1])
    from edgecnn.evaluate.datasets import load_labelled

    return load_labelled(source, input_spec=input_spec, preprocess=preprocess)


def _run_torch_steps(spec: ModelSpec, steps: list[dict[str, Any]], calib: np.ndarray, recipe: Recipe, report: dict) -> ModelSpec:
    from edgecnn.passes import PASSES
    from edgecnn.passes.base import PassContext

    ctx = PassContext(calib_data=calib, train_data=calib, seed=recipe.seed, teacher=spec)
    ctx.seed_everything()
    for step in steps:
        config = {k: v for k, v in step.items() if k != "type"}
        spec = PASSES.get(step["type"])(**config).apply(spec, ctx)
    report["steps"] += ctx.reports
    return spec


def _quantize(float_model: Artifact, step: dict[str, Any], target: str, calib: np.ndarray, evaluation, out: Path, report: dict) -> Artifact:
    from edgecnn.quant.api import quantize

    config = {k: v for k, v in step.items() if k != "type"}
    precision = config.pop("precision", "int8")
    started = time.perf_counter()
    result = quantize(float_model.path, target=target, precision=precision, calib_data=calib,
                      out=out / f"model.{precision}.onnx",
                      eval_data=evaluation, **config)
    report["steps"].append({"type": "quantize", "config": {"precision": precision, **config}, "report": result.report,
                            "seconds": round(time.perf_counter() - started, 3)})
    return result.artifact


def _compile(target, baseline: Artifact, optimized: Artifact, recipe: Recipe, out: Path, report: dict):
    """Make the target's deployable artifact and the two sessions (baseline, optimized) to measure on it."""
    from edgecnn.runtime import load_session

    threads = recipe.profile.threads
    sessions: dict[str, Any] = {}
    deployable = optimized
    if target.name == "onnxruntime":
        sessions = {"baseline": load_session(baseline, backend="onnxruntime", threads=threads),
                    "optimized": load_session(optimized, backend="onnxruntime", threads=threads)}
    elif target.name == "openvino":
        from edgecnn.export.openvino import export_openvino

        base_ir = export_openvino(baseline, out / "openvino" / "baseline.xml")
        deployable = export_openvino(optimized, out / "openvino" / "model.xml")
        sessions = {"baseline": load_session(base_ir, backend="openvino", threads=threads, precision="f32"),
                    "optimized": load_session(deployable, backend="openvino", threads=threads)}
    elif target.name == "arm":
        sessions = {"baseline": load_session(baseline, backend="remote", threads=threads, address=recipe.device, token=recipe.token),
                    "optimized": load_session(optimized, backend="remote", threads=threads, address=recipe.device, token=recipe.token)}
        report["notes"].append(f"measured on the device at {recipe.device} through the edgecnn agent")
    elif target.name == "tensorrt":
        from edgecnn.export.tensorrt import export_tensorrt

        result = export_tensorrt(optimized, out / "tensorrt" / "model.engine")
        deployable = result.artifact
        if result.engine_built:
            base = export_tensorrt(baseline, out / "tensorrt" / "baseline.engine", precision="fp32").artifact
            sessions = {"baseline": load_session(base, backend="tensorrt"), "optimized": load_session(deployable, backend="tensorrt")}
        else:
            report["not_done"] += result.not_done
    elif target.name == "cuda":
        try:
            sessions = {"baseline": load_session(baseline, backend="onnxruntime", device="cuda"),
                        "optimized": load_session(optimized, backend="onnxruntime", device="cuda")}
        except DeviceUnavailableError as exc:
            report["not_done"].append(f"latency on CUDA not measured: {exc}. Run the same command on a machine with an NVIDIA GPU "
                                      "and onnxruntime-gpu installed.")
    return sessions, deployable


def _validate(original, onnx_input, baseline: Artifact, optimized: Artifact, sessions, x: np.ndarray, meaningful: bool) -> dict[str, Any]:
    """Optimized outputs vs the float reference (PyTorch, or the input ONNX) on real inputs."""
    from edgecnn.evaluate.metrics import fidelity
    from edgecnn.runtime import load_session

    if original is not None:
        import torch

        with torch.no_grad():
            ref = np.concatenate([original.module(torch.from_numpy(x[i:i + 16])).numpy() for i in range(0, len(x), 16)])
    else:
        ref = _run_batched(load_session(baseline, backend="onnxruntime"), x)
    runner = sessions.get("optimized")
    where = getattr(runner, "backend", None)
    if runner is None:
        runner, where = load_session(optimized, backend="onnxruntime"), "onnxruntime (CPU, the target runtime is absent here)"
    out = _run_batched(runner, x)
    result = fidelity(ref, out)
    result.update({"samples": int(len(x)), "reference": "pytorch" if original is not None else "input onnx", "runtime": where,
                   "meaningful": meaningful})
    if not meaningful:
        result["reason"] = "random weights: near-flat outputs make agreement meaningless"
    return result


def _run_batched(session, x: np.ndarray) -> np.ndarray:
    """Run sample by sample: exported models have a fixed batch of 1 unless exported with a dynamic batch."""
    return np.concatenate([session.run(x[i:i + 1])[0] for i in range(len(x))])


def _evaluate(sessions, evaluation, weights, artifacts, optimized) -> dict[str, Any]:
    if evaluation is None:
        reason = "no labelled eval data given (--eval-data)"
        return {"baseline": {"top1": None, "reason": reason}, "optimized": {"top1": None, "reason": reason}}
    from edgecnn.evaluate.metrics import accuracy
    from edgecnn.runtime import load_session

    x, y = evaluation
    out = {}
    for role, art in (("baseline", artifacts["baseline"]), ("optimized", optimized)):
        session = sessions.get(role) or load_session(art, backend="onnxruntime")
        out[role] = accuracy(_run_batched(session, x), y)
        if weights == "random":
            out[role]["reason"] = "random weights: not meaningful"
    return out


def _profile(sessions: dict[str, Any], calib: np.ndarray, recipe: Recipe) -> dict[str, Any]:
    if not sessions.get("optimized"):
        return {}
    from edgecnn.profile.timing import TimingProtocol, compare_interleaved

    p = recipe.profile
    protocol = TimingProtocol(warmup=p.warmup, min_iters=p.min_iters, min_seconds=p.min_seconds, rounds=p.rounds)
    x = np.ascontiguousarray(calib[: p.batch])
    return compare_interleaved({"baseline": sessions["baseline"], "optimized": sessions["optimized"]}, x, protocol)


def _side(artifact: Artifact, stats, session, accuracy, spec) -> dict[str, Any]:
    from edgecnn.analysis.summary import count_params_macs

    params, macs = count_params_macs(spec) if spec is not None else (None, None)
    side: dict[str, Any] = {"latency_ms": None, "throughput": None, "times_ms": None, "memory": None}
    if stats is not None:
        side.update(stats.to_dict())
    side.update({"backend": getattr(session, "backend", None), "session": session.describe() if session else None,
                 "precision": artifact.precision, "format": artifact.format, "size_bytes": artifact.bytes,
                 "params": params, "macs": macs, "accuracy": accuracy})
    return side


def _headline(report: dict[str, Any]) -> None:
    b, o = report["baseline"], report["optimized"]
    if b.get("latency_ms") and o.get("latency_ms"):
        report["speedup"] = b["latency_ms"]["p50"] / o["latency_ms"]["p50"]
        if report["speedup"] < 1:
            report["notes"].append(f"WARNING: the optimized model is SLOWER than its float baseline ({report['speedup']:.2f}x)")
    report["size_ratio"] = o["size_bytes"] / b["size_bytes"] if b.get("size_bytes") else None
    ba, oa = (b.get("accuracy") or {}).get("top1"), (o.get("accuracy") or {}).get("top1")
    report["accuracy_delta"] = oa - ba if ba is not None and oa is not None else None
    report["variants"] = [
        {"name": "float baseline", "size_bytes": b["size_bytes"], "p50_ms": (b.get("latency_ms") or {}).get("p50"), "accuracy": ba},
        {"name": f"optimized ({o['precision']})", "size_bytes": o["size_bytes"], "p50_ms": (o.get("latency_ms") or {}).get("p50"), "accuracy": oa},
    ]
    for step in report["steps"]:
        for v in (step.get("report") or {}).get("variants", []) or []:
            report["variants"].append(v)


def _gates(report: dict[str, Any], recipe: Recipe) -> None:
    g = recipe.gates
    fid = report.get("fidelity") or {}
    if g.max_accuracy_drop is not None:
        if report["accuracy_delta"] is not None:
            report["gates"].append(_gate("max_accuracy_drop", g.max_accuracy_drop, -report["accuracy_delta"], -report["accuracy_delta"] <= g.max_accuracy_drop))
        elif fid.get("top1_agreement") is not None and fid.get("meaningful"):
            drop = 100.0 - fid["top1_agreement"]
            report["gates"].append(_gate("max_accuracy_drop (100 - top-1 agreement)", g.max_accuracy_drop, drop, drop <= g.max_accuracy_drop))
        else:
            report["gates"].append(_gate("max_accuracy_drop", g.max_accuracy_drop, None, None, "no meaningful accuracy (random weights or no data)"))
    speedup = report.get("speedup")
    if g.min_speedup is not None or g.require_speedup:
        threshold = g.min_speedup if g.min_speedup is not None else 1.0
        if speedup is None:
            report["gates"].append(_gate("min_speedup", threshold, None, None, "latency not measured on this machine"))
        else:
            report["gates"].append(_gate("min_speedup", threshold, speedup, speedup >= threshold))
    if g.max_size_mb is not None:
        size = report["optimized"]["size_bytes"] / 1e6
        report["gates"].append(_gate("max_size_mb", g.max_size_mb, size, size <= g.max_size_mb))


def _gate(name: str, threshold: float, value: float | None, passed: bool | None, reason: str | None = None) -> dict[str, Any]:
    return {"name": name, "threshold": threshold, "value": value, "passed": passed, "reason": reason}


def _bundle(deployable: Artifact, optimized: Artifact, spec: ModelSpec | None, out: Path, report: dict) -> Artifact:
    from edgecnn.bundle.writer import write_bundle

    portable = deployable if deployable.format in ("onnx", "openvino") else optimized
    return write_bundle([portable], out / "bundle", spec=spec)

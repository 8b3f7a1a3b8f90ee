"""Benchmark suites: a YAML file naming models (zoo names or artifact files), targets, precisions, batch
sizes, threads, the timing protocol and the gates; expanded into a flat list of cases.

```yaml
name: ci-small
protocol: {rounds: 12, min_seconds: 3.0, min_iters: 240, warmup: 20, pause_s: 0.01}
inputs: {seed: 0}
metric: p10
cases:
  - model: lenet5          # a zoo name ...
    weights: digits        # random (default) | digits: trained here on scikit-learn digits, top-1 measured
    precision: [fp32, int8]
    batch: 1
    threads: 1
    target: onnxruntime
  - artifact: models/net.onnx   # ... or a model file, relative to this suite file
    name: net
gates:
  - {type: speedup, model: lenet5, precision: int8, reference: fp32, min: 1.0}
  - {type: accuracy_drop, model: lenet5, precision: int8, reference: fp32, max: 1.0}
  - {type: max_size, model: lenet5, precision: int8, max_mb: 0.5}
```
Unknown keys are errors, with the file and the key named.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecnn.bench.stats import DEFAULT_METRIC, check_metric
from edgecnn.errors import InvalidInputError
from edgecnn.profiling.timing import TimingProtocol
from edgecnn.targets import all_targets
from edgecnn.zoo.registry import MODELS, resolve_name

# the targets an ONNX file is timed for in this process, each as (backend, device): asked of the targets
TARGETS = {t.name: t.timing("onnx") for t in all_targets() if t.times_onnx_here}
PRECISIONS = ("fp32", "fp16", "int8")
WEIGHTS = ("random", "digits")
GATE_TYPES = ("speedup", "accuracy_drop", "max_size")

# defaults sized for CI: 12 interleaved rounds, ~3 s of timed work per case
DEFAULT_PROTOCOL = TimingProtocol(warmup=20, min_iters=240, min_seconds=3.0, rounds=12, pause_s=0.01)


@dataclass(frozen=True)
class Case:
    """One timed configuration. `id` is how results files match cases across runs."""

    name: str
    precision: str
    target: str
    batch: int
    threads: int | None
    model: str | None = None  # zoo name
    weights: str = "random"
    artifact: Path | None = None  # model file, when the suite names one instead of a zoo model

    @property
    def id(self) -> str:
        return f"{self.name}/{self.precision}/{self.target}/b{self.batch}/t{self.threads or 'auto'}"

    def matches(self, *, model: str | None = None, precision: str | None = None) -> bool:
        return (model is None or self.name == model) and (precision is None or self.precision == precision)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["artifact"] = str(self.artifact) if self.artifact else None
        return {"id": self.id, **d}


@dataclass(frozen=True)
class GateSpec:
    type: str
    model: str | None = None
    precision: str | None = None
    reference: str | None = None
    threshold: float = 0.0

    @property
    def label(self) -> str:
        who = "/".join(p for p in (self.model, self.precision) if p) or "all cases"
        if self.type == "speedup":
            return f"{who} at least {self.threshold:g}x faster than {self.reference}"
        if self.type == "accuracy_drop":
            return f"{who} top-1 within {self.threshold:g} points of {self.reference}"
        return f"{who} at most {self.threshold:g} MB"


@dataclass(frozen=True)
class Suite:
    name: str
    cases: list[Case]
    protocol: TimingProtocol = DEFAULT_PROTOCOL
    gates: list[GateSpec] = field(default_factory=list)
    seed: int = 0
    metric: str = DEFAULT_METRIC
    description: str = ""
    path: Path | None = None
    source: dict[str, Any] = field(default_factory=dict)  # the parsed YAML, stored in results as run

    def with_rounds(self, rounds: int) -> Suite:
        """Same suite, more or fewer rounds (time per round kept): what 'inconclusive' suggests."""
        per_round_s = self.protocol.min_seconds / self.protocol.rounds
        per_round_iters = max(1, self.protocol.min_iters // self.protocol.rounds)
        protocol = dataclasses.replace(
            self.protocol,
            rounds=rounds,
            min_seconds=per_round_s * rounds,
            min_iters=per_round_iters * rounds,
            max_iters=max(self.protocol.max_iters, per_round_iters * rounds),
        )
        return dataclasses.replace(self, protocol=protocol)


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite YAML file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"suite file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not a text (UTF-8 YAML) file") from None
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    return parse_suite(data, where=str(path), base_dir=path.parent, path=path)


def parse_suite(data: Any, *, where: str = "suite", base_dir: Path = Path("."), path: Path | None = None) -> Suite:
    """Validate a suite given as a dict (the parsed YAML); artifact paths resolve against `base_dir`."""
    top = _mapping(data, where)
    _known(top, {"name", "description", "protocol", "inputs", "metric", "cases", "gates"}, where)
    name = top.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{where}: 'name' is required (a short suite name)")
    protocol = _protocol(top.get("protocol") or {}, f"{where}: protocol")
    inputs = _mapping(top.get("inputs") or {}, f"{where}: inputs")
    _known(inputs, {"seed"}, f"{where}: inputs")
    seed = _int(inputs.get("seed", 0), f"{where}: inputs.seed", minimum=0)
    raw_cases = top.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise InvalidInputError(f"{where}: 'cases' must be a non-empty list")
    cases: list[Case] = []
    for i, entry in enumerate(raw_cases):
        cases.extend(_expand(entry, f"{where}: cases[{i}]", base_dir))
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise InvalidInputError(f"{where}: case {case.id} appears twice")
        seen.add(case.id)
    gates = [_gate(g, f"{where}: gates[{i}]", cases) for i, g in enumerate(top.get("gates") or [])]
    metric = top.get("metric", DEFAULT_METRIC)
    try:
        check_metric(metric)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    return Suite(
        name=name.strip(),
        cases=cases,
        protocol=protocol,
        gates=gates,
        seed=seed,
        metric=metric,
        description=str(top.get("description") or ""),
        path=path,
        source=top,
    )


def _expand(entry: Any, where: str, base_dir: Path) -> list[Case]:
    entry = _mapping(entry, where)
    _known(entry, {"model", "artifact", "name", "weights", "precision", "batch", "threads", "target"}, where)
    if ("model" in entry) == ("artifact" in entry):
        raise InvalidInputError(f"{where}: give exactly one of 'model' (a zoo name) or 'artifact' (a model file)")
    targets = [_choice(t, TARGETS, f"{where}: target") for t in _listed(entry.get("target", "onnxruntime"))]
    batches = [_int(b, f"{where}: batch", minimum=1) for b in _listed(entry.get("batch", 1))]
    threads = [
        None if t in (None, "auto") else _int(t, f"{where}: threads", minimum=1)
        for t in _listed(entry.get("threads", 1))
    ]
    if "model" in entry:
        model = str(entry["model"])
        _check_zoo_name(model, where)
        weights = _choice(entry.get("weights", "random"), WEIGHTS, f"{where}: weights")
        precisions = [_choice(p, PRECISIONS, f"{where}: precision") for p in _listed(entry.get("precision", "fp32"))]
        name, artifact = str(entry.get("name", model)), None
    else:
        if "weights" in entry or "precision" in entry:
            raise InvalidInputError(f"{where}: 'weights' and 'precision' apply to zoo models; an artifact has its own")
        artifact = (base_dir / str(entry["artifact"])).resolve()
        if not artifact.exists():
            raise InvalidInputError(f"{where}: artifact not found: {artifact}")
        from edgecnn.artifact import Artifact

        precisions = [Artifact.from_path(artifact).precision]
        model, weights, name = None, "random", str(entry.get("name", artifact.stem))
    return [
        Case(name=name, precision=p, target=t, batch=b, threads=th, model=model, weights=weights, artifact=artifact)
        for p in precisions
        for t in targets
        for b in batches
        for th in threads
    ]


def _gate(raw: Any, where: str, cases: list[Case]) -> GateSpec:
    g = _mapping(raw, where)
    kind = _choice(g.get("type"), GATE_TYPES, f"{where}: type")
    allowed = {"type", "model", "precision"} | (
        {"reference", "min"} if kind == "speedup" else {"reference", "max"} if kind == "accuracy_drop" else {"max_mb"}
    )
    _known(g, allowed, where)
    model, precision = g.get("model"), g.get("precision")
    if not any(c.matches(model=model, precision=precision) for c in cases):
        raise InvalidInputError(f"{where}: no case matches model={model} precision={precision}")
    if kind == "max_size":
        return GateSpec(kind, model, precision, None, _number(g.get("max_mb"), f"{where}: max_mb"))
    if kind == "accuracy_drop" and any(c.weights != "digits" for c in cases if c.matches(model=model)):
        raise InvalidInputError(
            f"{where}: accuracy gates need cases with 'weights: digits' (trained here, so top-1 means something)"
        )
    reference = g.get("reference", "fp32")
    if not any(c.matches(model=model, precision=reference) for c in cases):
        raise InvalidInputError(f"{where}: no reference case with precision={reference} for model={model}")
    key = "min" if kind == "speedup" else "max"
    default = 1.0 if kind == "speedup" else None
    value = g.get(key, default)
    return GateSpec(
        kind, model, precision or ("int8" if kind == "speedup" else None), reference, _number(value, f"{where}: {key}")
    )


def _protocol(raw: Any, where: str) -> TimingProtocol:
    data = {**DEFAULT_PROTOCOL.to_dict(), **_mapping(raw, where)}
    try:
        protocol = TimingProtocol.from_dict(data)
    except (TypeError, InvalidInputError) as exc:
        raise InvalidInputError(f"{where}: {exc}") from None
    if protocol.rounds < 1:
        raise InvalidInputError(f"{where}: rounds must be at least 1")
    return protocol


def _check_zoo_name(model: str, where: str) -> None:

    if resolve_name(model) not in MODELS:
        from edgecnn.errors import close_matches

        raise InvalidInputError(
            f"{where}: unknown zoo model '{model}'.{close_matches(model, MODELS.names())} "
            f"Use 'artifact: FILE' for your own model files"
        )


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _known(data: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInputError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _choice(value: Any, choices: Any, where: str) -> str:
    if value not in choices:
        raise InvalidInputError(f"{where}: '{value}' is not one of {', '.join(choices)}")
    return str(value)


def _int(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInputError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise InvalidInputError(f"{where}: expected a non-negative number, got {value!r}")
    return float(value)

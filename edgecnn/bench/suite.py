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
The file is validated by pydantic models (the YAML's schema) and then expanded; every mistake is one line
naming the file, the line and the field (the mechanism recipes use, `edgecnn.config.explain_yaml`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgecnn.bench.stats import DEFAULT_METRIC, check_metric
from edgecnn.config import at_line, explain_yaml, read_yaml_file
from edgecnn.errors import InvalidInputError, close_matches
from edgecnn.profiling.timing import BENCH_PROTOCOL, TimingProtocol
from edgecnn.targets import all_targets
from edgecnn.zoo.registry import MODELS, resolve_name

# the targets an ONNX file is timed for in this process, each as (backend, device): asked of the targets
TARGETS = {t.name: t.timing("onnx") for t in all_targets() if t.times_onnx_here}
PRECISIONS = ("fp32", "fp16", "int8")
WEIGHTS = ("random", "digits")
GATE_TYPES = ("speedup", "accuracy_drop", "max_size")


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
    protocol: TimingProtocol = BENCH_PROTOCOL
    gates: list[GateSpec] = field(default_factory=list)
    seed: int = 0
    metric: str = DEFAULT_METRIC
    description: str = ""
    path: Path | None = None
    source: dict[str, Any] = field(default_factory=dict)  # the parsed YAML, stored in results as run

    def with_rounds(self, rounds: int) -> Suite:
        """Same suite, more or fewer rounds (time per round kept): what 'inconclusive' suggests."""
        return dataclasses.replace(self, protocol=self.protocol.with_rounds(rounds))


# -- the file's schema -------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listed(value: Any) -> Any:
    """A scalar where a list is allowed (`batch: 1` or `batch: [1, 4]`)."""
    return value if isinstance(value, list) else [value]


class CaseEntry(_Strict):
    """One `cases:` entry: a zoo model (with weights and precisions) or a model file; lists multiply out."""

    model: str | None = None
    artifact: str | None = None
    name: str | None = None
    weights: Literal[WEIGHTS] | None = None
    precision: list[Literal[PRECISIONS]] | None = None
    batch: list[Annotated[int, Field(strict=True, ge=1)]] = [1]
    threads: list[Annotated[int, Field(strict=True, ge=1)] | None] = Field([1], description="None/auto: all cores")
    target: list[str] = ["onnxruntime"]

    _as_lists = field_validator("precision", "batch", "target", mode="before")(_listed)

    @field_validator("threads", mode="before")
    @classmethod
    def _auto_threads(cls, threads: Any) -> Any:
        return [None if t == "auto" else t for t in _listed(threads)]

    @field_validator("target")
    @classmethod
    def _known_targets(cls, targets: list[str]) -> list[str]:
        for t in targets:
            if t not in TARGETS:
                raise ValueError(f"'{t}' is not one of {', '.join(TARGETS)}")
        return targets

    @field_validator("model")
    @classmethod
    def _zoo_model(cls, model: str | None) -> str | None:
        if model is not None and resolve_name(model) not in MODELS:
            raise ValueError(
                f"unknown zoo model '{model}'.{close_matches(model, MODELS.names())} "
                "Use 'artifact: FILE' for your own model files"
            )
        return model

    @model_validator(mode="after")
    def _model_or_artifact(self) -> CaseEntry:
        if (self.model is None) == (self.artifact is None):
            raise ValueError("give exactly one of 'model' (a zoo name) or 'artifact' (a model file)")
        if self.artifact is not None and (self.weights is not None or self.precision is not None):
            raise ValueError("'weights' and 'precision' apply to zoo models; an artifact has its own")
        return self


class _GateEntry(_Strict):
    model: str | None = None
    precision: str | None = None


class SpeedupGate(_GateEntry):
    type: Literal["speedup"]
    reference: str = "fp32"
    min: float = Field(1.0, ge=0)


class AccuracyDropGate(_GateEntry):
    type: Literal["accuracy_drop"]
    reference: str = "fp32"
    max: float = Field(ge=0)


class MaxSizeGate(_GateEntry):
    type: Literal["max_size"]
    max_mb: float = Field(ge=0)


GateEntry = Annotated[SpeedupGate | AccuracyDropGate | MaxSizeGate, Field(discriminator="type")]


class Inputs(_Strict):
    seed: int = Field(0, strict=True, ge=0)


class SuiteFile(_Strict):
    """The suite YAML as written; `parse_suite` expands it into a `Suite`."""

    name: str = Field(min_length=1, description="a short suite name")
    description: str = ""
    protocol: TimingProtocol = BENCH_PROTOCOL  # fields given here override BENCH_PROTOCOL's
    inputs: Inputs = Inputs()
    metric: str = DEFAULT_METRIC
    cases: list[CaseEntry] = Field(min_length=1)
    gates: list[GateEntry] = []

    @field_validator("name")
    @classmethod
    def _stripped(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("a short suite name is required")
        return name.strip()

    @field_validator("protocol", mode="before")
    @classmethod
    def _over_bench_defaults(cls, raw: Any) -> Any:
        return {**BENCH_PROTOCOL.to_dict(), **raw} if isinstance(raw, dict) else raw

    @field_validator("metric")
    @classmethod
    def _metric(cls, metric: str) -> str:
        try:
            return check_metric(metric)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None


# -- loading -----------------------------------------------------------------------------------------------------


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite YAML file."""
    path = Path(path)
    data, text = read_yaml_file(path, "suite")
    return parse_suite(data, where=str(path), base_dir=path.parent, path=path, text=text)


def parse_suite(
    data: Any, *, where: str = "suite", base_dir: Path = Path("."), path: Path | None = None, text: str | None = None
) -> Suite:
    """Validate a suite given as a dict (the parsed YAML, `text` its source for line numbers); artifact paths
    resolve against `base_dir`."""
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: a suite is a YAML mapping (name, cases, ...), got {type(data).__name__}")
    try:
        suite = SuiteFile.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(explain_yaml(exc, text, where, data=data)) from None

    def fail(loc: list[Any], message: str) -> InvalidInputError:
        return InvalidInputError(f"{at_line(where, text, loc)}: {message}")

    cases: list[Case] = []
    for i, entry in enumerate(suite.cases):
        for case in _expand(entry, base_dir, lambda msg, i=i: fail(["cases", i], f"cases[{i}]: {msg}")):
            if any(c.id == case.id for c in cases):
                raise fail(["cases", i], f"cases[{i}]: case {case.id} appears twice")
            cases.append(case)
    gates = [
        _gate(g, cases, lambda msg, i=i: fail(["gates", i], f"gates[{i}]: {msg}")) for i, g in enumerate(suite.gates)
    ]
    return Suite(
        name=suite.name,
        cases=cases,
        protocol=suite.protocol,
        gates=gates,
        seed=suite.inputs.seed,
        metric=suite.metric,
        description=suite.description,
        path=path,
        source=data,
    )


def _expand(entry: CaseEntry, base_dir: Path, fail: Any) -> list[Case]:
    if entry.model is not None:
        precisions: list[str] = list(entry.precision or ["fp32"])
        name, artifact, weights = entry.name or entry.model, None, entry.weights or "random"
    else:
        artifact = (base_dir / entry.artifact).resolve()
        if not artifact.exists():
            raise fail(f"artifact not found: {artifact}")
        from edgecnn.artifact import Artifact

        precisions = [Artifact.from_path(artifact).precision]
        name, weights = entry.name or artifact.stem, "random"
    return [
        Case(
            name=name, precision=p, target=t, batch=b, threads=th, model=entry.model, weights=weights, artifact=artifact
        )
        for p in precisions
        for t in entry.target
        for b in entry.batch
        for th in entry.threads
    ]


def _gate(g: SpeedupGate | AccuracyDropGate | MaxSizeGate, cases: list[Case], fail: Any) -> GateSpec:
    """A gate checked against the cases it names."""
    if not any(c.matches(model=g.model, precision=g.precision) for c in cases):
        raise fail(f"no case matches model={g.model} precision={g.precision}")
    if isinstance(g, MaxSizeGate):
        return GateSpec(g.type, g.model, g.precision, None, g.max_mb)
    if isinstance(g, AccuracyDropGate) and any(c.weights != "digits" for c in cases if c.matches(model=g.model)):
        raise fail("accuracy gates need cases with 'weights: digits' (trained here, so top-1 means something)")
    if not any(c.matches(model=g.model, precision=g.reference) for c in cases):
        raise fail(f"no reference case with precision={g.reference} for model={g.model}")
    if isinstance(g, SpeedupGate):
        return GateSpec(g.type, g.model, g.precision or "int8", g.reference, g.min)
    return GateSpec(g.type, g.model, g.precision, g.reference, g.max)

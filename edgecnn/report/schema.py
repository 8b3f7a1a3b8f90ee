"""The typed report: pydantic models of report.json, and the JSON Schema published from them.

`Report` is the one definition of what `edgecnn optimize` writes. `write_report` validates every report
through it before writing anything; `docs/report.schema.json` is `report_json_schema()` committed (a test
keeps the two equal; regenerate with `edgecnn report --schema > docs/report.schema.json`).

Precise where the shape is stable (latency summary, artifacts, gates, step records, variants' plotted
fields); permissive (`dict[str, Any]`) where a stage's own sub-report varies (a step's `report`, session
descriptions, memory, roofline). A field that does not apply is `null`, and every field is always written.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

REPORT_SCHEMA_VERSION = 3  # 3: deliverable, and how each side was made (issue 15)
SCHEMA_ID = "https://edgecnn.dev/schemas/report.schema.json"
REGENERATE = "edgecnn report --schema > docs/report.schema.json"

# the artifact's Format and Precision (edgecnn.artifact) plus what only a report lists (a bundle)
ArtifactFormat = Literal["onnx", "openvino", "tensorrt", "torchscript", "pytorch", "bundle"]
Precision = Literal["fp32", "fp16", "bf16", "int8", "mixed"]
# variant: the target's compiled reduced-precision model kept beside a float deliverable (see `Deliverable`)
ArtifactRole = Literal["baseline", "transformed", "quantized", "variant", "optimized", "bundle"]


class _Strict(BaseModel):
    """Unknown keys are errors: a new field is a schema change, made here on purpose."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


class _Open(BaseModel):
    """Known keys are typed; other keys are kept (the producer's shape varies or grows)."""

    model_config = ConfigDict(extra="allow", json_schema_serialization_defaults_required=True)


class ModelInput(_Open):
    name: str | None = None
    shape: list[int]
    dtype: str | None = None
    layout: str | None = None


class ModelInfo(_Open):
    """The model that was optimized: `ModelSpec.describe()` plus params and MACs (null for an ONNX input)."""

    name: str
    source: str | None = Field(None, description="zoo:NAME, factory:..., torchscript:..., onnx:PATH, module")
    family: str | None = None
    weights: Literal["pretrained", "file", "random", "user"] | None = None
    sha256: str | None = Field(None, description="of the weights, or of the ONNX file")
    params: int | None = None
    macs: int | None = Field(None, description="at batch 1")
    input: ModelInput | None = None
    preprocess: dict[str, Any] | None = None


class StepRecord(_Strict):
    """One recipe step as it ran; `report` is the step's own report (its shape is the step's business)."""

    type: str
    config: dict[str, Any] = Field(default_factory=dict)
    report: dict[str, Any] | None = None
    seconds: float | None = Field(None, ge=0)


class ArtifactRecord(_Strict):
    """A file the run produced (`Artifact.to_dict(role=...)`); a bundle has no IO spec or provenance."""

    role: ArtifactRole
    path: str
    format: ArtifactFormat
    precision: Precision | None = None
    target: str | None = None
    sha256: str | None = None
    bytes: int | None = Field(None, ge=0)
    inputs: list[dict[str, Any]] | None = None
    outputs: list[dict[str, Any]] | None = None
    provenance: dict[str, Any] | None = None


class LatencySummary(_Strict):
    """Summary statistics of the per-iteration times, in milliseconds (`LatencyStats.summary()`)."""

    p50: float
    p90: float
    p95: float
    p99: float
    mean: float
    std: float
    min: float
    max: float


class H2DSummary(_Strict):
    """Host-to-device input copies, timed apart from the model (CUDA), in milliseconds."""

    p50: float
    mean: float
    max: float


class Accuracy(_Open):
    """Accuracy in percent on labelled data; `top1` null with a `reason` when it could not be measured."""

    top1: float | None = None
    top5: float | None = None
    reason: str | None = None


class Side(_Strict):
    """`baseline` or `optimized`: the latency row (`LatencyStats.to_dict()` of the profile, null when not
    measured here) and what the artifact is. Both sides are measured interleaved on the same backend."""

    latency_ms: LatencySummary | None = None
    median_ci95_ms: list[float] | None = Field(None, min_length=2, max_length=2)
    throughput: float | None = Field(None, description="items per second at the median latency")
    times_ms: list[float] | None = Field(None, description="every timed iteration")
    iterations: int | None = None
    batch: int | None = None
    warmup: int | None = None
    threads: int | None = None
    clock: str | None = Field(None, description="perf_counter, or cuda_event on the GPU stream")
    h2d_ms: H2DSummary | None = None
    h2d_times_ms: list[float] | None = None
    memory: dict[str, Any] | None = None
    roofline: dict[str, Any] | None = None
    session: dict[str, Any] | None = Field(
        None, description="runtime, version, threads, graph optimization level / providers / precision"
    )
    made: str | None = Field(None, description="how this artifact was made (the baseline: a plain fp32 export)")
    backend: str | None = None
    precision: Precision | None = None
    format: ArtifactFormat | None = None
    size_bytes: int | None = Field(None, ge=0)
    params: int | None = None
    macs: int | None = None
    accuracy: Accuracy | None = None


class Fidelity(_Open):
    """The optimized model vs the float reference on the same real inputs (`top{k}_overlap` has k = min(5,
    classes)); the measurements are `edgecnn.metrics.Fidelity`'s."""

    top1_agreement: float | None = Field(None, ge=0, le=1, description="a fraction of the inputs, in [0, 1]")
    max_abs_error: float | None = Field(None, ge=0)
    max_rel_error: float | None = Field(None, ge=0)
    sqnr_db: float | None = Field(None, description="Infinity when the outputs are identical")
    cosine: float | None = None
    kl: float | None = None
    samples: int | None = Field(None, ge=0)
    reference: str | None = None
    runtime: str | None = None
    meaningful: bool | None = Field(None, description="false with random weights or outputs measured near-flat")
    reason: str | None = None


class Gate(_Strict):
    """A recipe gate; `passed` is null (with a `reason`) when it could not be evaluated."""

    name: str
    threshold: float
    value: float | None = None
    passed: bool | None = None
    reason: str | None = None


class Deliverable(_Strict):
    """What ships as `optimized` (and in the bundle), and why: the requested reduced-precision model only when
    the interleaved comparison against the float baseline on the target found it faster (the whole interval
    of the ratio below 1); otherwise the float model, with the reduced-precision one kept as a variant."""

    artifact: str
    format: ArtifactFormat
    precision: Precision
    requested: Precision = Field(description="the precision the recipe's steps produced")
    why: str
    ratio: float | None = Field(None, ge=0, description="requested / fp32 baseline latency; null: not timed")
    ratio_ci: list[float] | None = Field(None, min_length=2, max_length=2)
    verdict: Literal["faster", "slower", "inconclusive"] | None = None


class Variant(_Open):
    """A variant tried, as plotted in the HTML report (a step may add its own keys). The quantize step's
    accuracy-first search adds one per candidate it built, measured on held-out calibration samples."""

    name: str
    size_bytes: float | None = None
    p50_ms: float | None = None
    accuracy: float | None = None
    top1_agreement: float | None = Field(None, ge=0, le=1, description="with fp32, a fraction (search candidates)")
    sqnr_db: float | None = Field(None, description="logits SQNR vs fp32 in dB (search candidates)")
    latency_ratio: float | None = Field(None, ge=0, description="candidate / fp32 median, interleaved; null: not timed")
    chosen: bool | None = Field(None, description="the search kept this candidate")


class Environment(_Open):
    """`edgecnn.profiling.environment.fingerprint()` of the machine that measured (or of the remote device)."""

    cpu: str | None = None
    arch: str | None = None
    flags: list[str] | None = None
    cores: int | None = None
    physical_cores: int | None = None
    memory_gib: float | None = None
    gpu: list[dict[str, Any]] | None = None
    os: str | None = None
    python: str | None = None
    versions: dict[str, str | None] | None = None
    threads: int | None = None
    thread_env: dict[str, str] | None = None
    emulated: str | None = None


class Report(_Strict):
    """report.json: the versioned result of one `edgecnn optimize` run (docs/report.md)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_serialization_defaults_required=True,
        title="edgecnn report",
        json_schema_extra={"$id": SCHEMA_ID, "$schema": "https://json-schema.org/draft/2020-12/schema"},
    )

    schema_version: Literal[3] = REPORT_SCHEMA_VERSION
    edgecnn_version: str
    created: str = Field(description="ISO-8601 UTC time")
    model: ModelInfo
    recipe: dict[str, Any] = Field(description="the exact, validated recipe that ran (edgecnn recipes --schema)")
    target: str = Field(description="onnxruntime, openvino, tensorrt, cuda or arm")
    steps: list[StepRecord] = Field(default_factory=list)
    artifacts: list[ArtifactRecord] = Field(default_factory=list)
    baseline: Side | None = None
    optimized: Side | None = None
    deliverable: Deliverable | None = None
    speedup: float | None = Field(None, gt=0, description="baseline p50 / optimized p50, measured interleaved")
    size_ratio: float | None = Field(None, ge=0, description="optimized bytes / baseline bytes")
    accuracy_delta: float | None = Field(None, description="optimized top-1 minus baseline top-1, in points")
    fidelity: Fidelity | None = None
    gates: list[Gate] = Field(default_factory=list)
    variants: list[Variant] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    not_done: list[str] = Field(default_factory=list)
    environment: Environment
    device_environment: Environment | None = Field(None, description="the remote device, when there is one")
    stage_seconds: dict[str, float] | None = Field(None, description="wall time of each pipeline stage")

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able dict that report.json holds (every field present; Infinity stays a float)."""
        return self.model_dump(mode="python")


def report_json_schema() -> dict[str, Any]:
    """The JSON Schema of report.json (what `write_report` writes), as published in docs/report.schema.json."""
    schema = Report.model_json_schema(mode="serialization")
    return {"$schema": schema.pop("$schema"), "$id": schema.pop("$id"), **schema}

"""The typed, frozen configs of the torch passes: the one definition each pass, each recipe step and
the JSON schema use. Torch-free on purpose, so listing and validating recipes never imports torch;
each pass module (`edgecnn/passes/<name>.py`) imports its config from here.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import StrictInt, field_validator, model_validator

from edgecnn.config import StepBase
from edgecnn.errors import InvalidInputError
from edgecnn.targets import get_target

Importance = Literal["l1", "l2", "bn_scale", "taylor", "activation"]
IMPORTANCES: tuple[str, ...] = ("l1", "l2", "bn_scale", "taylor", "activation")
Pattern = Literal["unstructured", "2:4"]


def check_ratio(value: float, what: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
        raise InvalidInputError(f"{what} must be in [0, 1), got {value!r}")


def _field_ratio(value: object, what: str) -> object:
    """check_ratio for a field validator: a ValueError, so recipe errors point at the field."""
    try:
        check_ratio(value, what)  # type: ignore[arg-type]
    except InvalidInputError as exc:
        raise ValueError(str(exc)) from None
    return value


def _patterns(value: object) -> object:
    return (value,) if isinstance(value, str) else value


class TorchStep(StepBase):
    stage: ClassVar[Literal["torch", "onnx"]] = "torch"


class FoldBNConfig(TorchStep):
    """Fold BatchNorm into the preceding conv / linear layer (eval-mode statistics)."""

    implementation: ClassVar[str] = "edgecnn.passes.fold_bn:FoldBN"
    type: Literal["fold_bn"] = "fold_bn"
    tolerance: float = 1e-4  # max output error relative to the output scale before the pass fails
    measure_latency: bool = True  # time the PyTorch model before/after (interleaved)

    @model_validator(mode="after")
    def _check(self) -> FoldBNConfig:
        if not self.tolerance > 0:
            raise InvalidInputError(f"fold_bn: tolerance must be positive, got {self.tolerance}")
        return self


class DepthwiseSeparableConfig(TorchStep):
    """Substitute dense k x k convolutions by SVD-initialised depthwise + pointwise pairs."""

    implementation: ClassVar[str] = "edgecnn.passes.dw_separable:DepthwiseSeparable"
    type: Literal["dw_separable"] = "dw_separable"
    depth_multiplier: int = 1  # m: SVD components kept per input channel
    include: tuple[str, ...] | None = None  # fnmatch patterns on layer names; None: every eligible layer
    exclude: tuple[str, ...] = ()
    min_mac_saving: float | None = None  # keep a layer only if its MACs drop by at least this fraction (0..1)
    max_error: float | None = None  # keep a layer only if its relative reconstruction error is at most this
    tolerance: float = 1e-4  # when every substitution is exact, max output error relative to the output scale

    @field_validator("depth_multiplier", mode="before")
    @classmethod
    def _multiplier(cls, m: object) -> object:
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise ValueError(f"dw_separable: depth_multiplier must be an integer >= 1, got {m!r}")
        return m

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _one_pattern(cls, v: object) -> object:
        return _patterns(v)

    @model_validator(mode="after")
    def _check(self) -> DepthwiseSeparableConfig:
        if self.min_mac_saving is not None and not 0 <= self.min_mac_saving < 1:
            raise InvalidInputError(f"dw_separable: min_mac_saving is a fraction in [0, 1), got {self.min_mac_saving}")
        if self.max_error is not None and self.max_error < 0:
            raise InvalidInputError(f"dw_separable: max_error must be >= 0, got {self.max_error}")
        if not self.tolerance > 0:
            raise InvalidInputError(f"dw_separable: tolerance must be positive, got {self.tolerance}")
        return self


class DistillConfig(TorchStep):
    """Fine-tune the model to match the original (teacher) model's outputs on the calibration/training data."""

    implementation: ClassVar[str] = "edgecnn.passes.distill:Distill"
    type: Literal["distill"] = "distill"
    epochs: StrictInt = 1
    steps: StrictInt | None = None  # optimizer steps; overrides epochs when given
    temperature: float = 4.0
    alpha: float = 0.5  # weight of the distillation loss when labels are given (1 - alpha: cross-entropy)
    lr: float = 1e-3
    batch_size: StrictInt = 32
    feature_loss: bool = False
    feature_weight: float = 1.0
    freeze_bn: bool = False  # keep BatchNorm statistics fixed (default: re-estimated; substitution/pruning shift them)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> DistillConfig:
        checks = [
            (self.epochs >= 1, f"epochs must be an integer >= 1, got {self.epochs!r}"),
            (self.steps is None or self.steps >= 1, f"steps must be an integer >= 1, got {self.steps!r}"),
            (self.temperature > 0, f"temperature must be positive, got {self.temperature}"),
            (0 <= self.alpha <= 1, f"alpha must be in [0, 1], got {self.alpha}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}"),
            (self.feature_weight >= 0, f"feature_weight must be >= 0, got {self.feature_weight}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInputError(f"distill: {message}")
        return self


class PruneConfig(TorchStep):
    """Structured channel pruning (Torch-Pruning dependency graph), latency-verified against the original."""

    implementation: ClassVar[str] = "edgecnn.passes.prune:Prune"
    type: Literal["prune"] = "prune"
    ratio: float = 0.3  # share of output channels removed from each prunable group
    importance: Importance = "l1"
    global_pruning: bool = False  # rank channels across layers instead of within each layer
    per_layer: dict[str, float] | None = None  # module name -> ratio, overrides `ratio` there
    protect: tuple[str, ...] = ()  # module names whose output channels are left alone
    protect_stem_and_head: bool = True  # the first conv and the classifier head keep their channels
    round_to: StrictInt | None = 8  # channel counts left as multiples of this
    iterative_steps: StrictInt = 1  # prune in this many equal steps
    distill_between: StrictInt = 0  # distillation epochs after each step (needs train data); 0 = none
    check_latency: bool = True  # export both models and time them side by side on the target
    target: str = "onnxruntime"
    threads: int | None = None  # runtime threads for the latency check (None: runtime default)

    @field_validator("ratio", mode="before")
    @classmethod
    def _ratio(cls, v: object) -> object:
        return _field_ratio(v, "prune: ratio")

    @field_validator("importance", mode="before")
    @classmethod
    def _importance(cls, v: object) -> object:
        if v not in IMPORTANCES:
            raise ValueError(f"prune: unknown importance '{v}'; choose one of {', '.join(IMPORTANCES)}")
        return v

    @model_validator(mode="after")
    def _check(self) -> PruneConfig:
        for name, value in (self.per_layer or {}).items():
            check_ratio(value, f"prune: per_layer ratio of '{name}'")
        if self.round_to is not None and self.round_to < 1:
            raise InvalidInputError(f"prune: round_to must be a positive integer or None, got {self.round_to!r}")
        if self.iterative_steps < 1:
            raise InvalidInputError(f"prune: iterative_steps must be at least 1, got {self.iterative_steps!r}")
        if self.distill_between < 0:
            raise InvalidInputError(
                f"prune: distill_between must be a number of epochs >= 0, got {self.distill_between!r}"
            )
        if self.threads is not None and self.threads < 1:
            raise InvalidInputError(f"prune: threads must be at least 1, got {self.threads}")

        get_target(self.target)  # unknown targets fail here, listing the known ones
        return self


class SparsifyConfig(TorchStep):
    """Zero weights by magnitude (unstructured, or 2 of every 4 consecutive input weights); shapes unchanged."""

    implementation: ClassVar[str] = "edgecnn.passes.sparsify:Sparsify"
    type: Literal["sparsify"] = "sparsify"
    sparsity: float = 0.5  # share of weights set to zero (2:4 is always 0.5)
    pattern: Pattern = "unstructured"
    global_: bool = False  # unstructured: one magnitude threshold across all layers instead of one per layer
    per_layer: dict[str, float] | None = None  # unstructured: module name -> sparsity, overrides `sparsity` there
    protect: tuple[str, ...] = ()  # module names left dense
    distill_epochs: StrictInt = 0  # recover accuracy by distilling from the dense model, zeros kept (needs train data)

    @field_validator("sparsity", mode="before")
    @classmethod
    def _sparsity(cls, v: object) -> object:
        return _field_ratio(v, "sparsify: sparsity")

    @field_validator("pattern", mode="before")
    @classmethod
    def _pattern(cls, v: object) -> object:
        if v not in ("unstructured", "2:4"):
            raise ValueError(f"sparsify: unknown pattern '{v}'; choose unstructured or 2:4")
        return v

    @model_validator(mode="after")
    def _check(self) -> SparsifyConfig:
        if self.pattern == "2:4" and (self.sparsity != 0.5 or self.per_layer or self.global_):
            raise InvalidInputError(
                "sparsify: the 2:4 pattern is exactly 50% in every layer; sparsity, per_layer and global_ do not apply"
            )
        for name, value in (self.per_layer or {}).items():
            check_ratio(value, f"sparsify: per_layer sparsity of '{name}'")
        if self.distill_epochs < 0:
            raise InvalidInputError(
                f"sparsify: distill_epochs must be a number of epochs >= 0, got {self.distill_epochs!r}"
            )
        return self


class QATConfig(TorchStep):
    """Quantization-aware fine-tuning: the float model teaches its int8 fake-quantized copy (BatchNorm folded)."""

    implementation: ClassVar[str] = "edgecnn.passes.qat:QAT"
    type: Literal["qat"] = "qat"
    steps: StrictInt = 200  # optimizer steps
    lr: float = 1e-5  # small: the weights only move to round better, the function must stay the teacher's
    batch_size: StrictInt = 8
    temperature: float = 1.0
    alpha: float = 0.5  # weight of the distillation loss when labels are given (1 - alpha: cross-entropy)
    flip: bool = True  # also train on mirrored images (label-preserving augmentation)
    target: str = "onnxruntime"  # whose int8 profile to simulate (TensorRT's: symmetric int8 activations)
    seed: int = 0

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        get_target(v)  # an unknown target is one line naming the known ones
        return v

    @model_validator(mode="after")
    def _check(self) -> QATConfig:
        checks = [
            (self.steps >= 1, f"steps must be an integer >= 1, got {self.steps!r}"),
            (self.lr > 0, f"lr must be positive, got {self.lr}"),
            (self.batch_size >= 1, f"batch_size must be an integer >= 1, got {self.batch_size!r}"),
            (self.temperature > 0, f"temperature must be positive, got {self.temperature}"),
            (0 <= self.alpha <= 1, f"alpha must be in [0, 1], got {self.alpha}"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInputError(f"qat: {message}")
        return self


TORCH_STEPS: tuple[type[TorchStep], ...] = (
    FoldBNConfig,
    DepthwiseSeparableConfig,
    DistillConfig,
    QATConfig,
    PruneConfig,
    SparsifyConfig,
)

"""The quantization options: one schema for `edgecnn.quantize(...)` keywords and the recipe's `quantize` step.

`QuantizeOptions` holds the few everyday choices (the keywords of `quantize()`); every rare knob lives in
`AdvancedQuantization` (its `advanced=` object). The recipe step `QuantizeStep` is both, flat, plus `type`.
Torch- and numpy-free, so recipe validation stays light.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, get_args

from pydantic import Field, field_validator

from edgecnn.config import Config, StepBase
from edgecnn.errors import InvalidInputError

Precision = Literal["int8", "fp16"]
CalibrationMethod = Literal["minmax", "percentile", "entropy", "distribution"]
CALIBRATION_METHODS: tuple[str, ...] = get_args(CalibrationMethod)
Preset = Literal["u8s8", "s8s8_symmetric", "s8s8"]


class QuantizeOptions(Config):
    """The everyday choices: precision, the int8 format preset and an accuracy budget."""

    precision: Precision = "int8"
    preset: Preset | None = Field(
        None, description="int8 format: u8s8 (ONNX Runtime / OpenVINO CPUs) or s8s8_symmetric; default: the target's"
    )
    max_accuracy_drop: float | None = Field(
        None, description="points of top-1 (needs labelled eval data): keep sensitive layers in float until it holds"
    )
    min_agreement: float | None = Field(
        None, ge=0, le=1, description="top-1 agreement with fp32, a fraction (0.99 = 99%): the budget without labels"
    )


class AdvancedQuantization(Config):
    """Rare knobs of `quantize()` (pass as `advanced=AdvancedQuantization(...)`)."""

    search: bool = Field(
        True,
        description="accuracy-first: build the candidate techniques, measure each on held-out samples and keep the "
        "most faithful one still faster than fp32 (skipped when the outputs are near-flat)",
    )
    search_target: float = Field(
        0.995, ge=0, le=1, description="top-1 agreement (a fraction) at which the search stops trying more"
    )
    holdout: float = Field(
        0.25, gt=0, lt=1, description="fraction of the calibration samples held out to measure the candidates on"
    )
    calibration_method: CalibrationMethod = "minmax"
    calib_size: int | None = Field(None, ge=1, description="calibration samples (default 300, or the recipe's)")
    op_types: tuple[str, ...] | None = Field(None, description="ONNX op types to quantize (default: all it can)")
    nodes_to_exclude: tuple[str, ...] = ()
    per_channel: bool | None = Field(None, description="per-channel weights (default: the preset's)")
    reduce_range: bool | None = Field(None, description="7-bit weights; None: decided from this CPU (no VNNI -> on)")
    equalize: bool = Field(False, description="cross-layer equalization before quantizing")
    relu6_as_relu: bool = False
    bias_correction: bool = False
    rounding: Literal["nearest", "gptq"] = Field(
        "nearest",
        description="int8 weight rounding: nearest (ONNX Runtime's) or gptq (re-rounded to minimise each layer's "
        "output error on the calibration data; kept only if fidelity improves)",
    )
    measure_effect: bool = Field(True, description="measure what equalize / bias_correction changed")
    max_float_layers: int = Field(8, ge=0, description="most layers the accuracy budget may keep in float")
    sensitivity: bool = Field(False, description="also rank every layer's quantization sensitivity")
    check_latency: bool = Field(True, description="time the result against fp32 side by side")
    latency_fallback: bool = Field(True, description="when int8 is not faster, try the other formats")
    keep_io_types: bool = Field(True, description="fp16: keep float32 inputs and outputs")
    seed: int | None = Field(None, description="calibration sampling seed (default 0, or the recipe's)")
    threads: int | None = Field(None, ge=1, description="runtime threads for the checks (default: the runtime's)")

    @field_validator("calibration_method", mode="before")
    @classmethod
    def _method(cls, v: Any) -> Any:
        if v not in CALIBRATION_METHODS:
            raise ValueError(f"unknown calibration method '{v}'; use one of {', '.join(CALIBRATION_METHODS)}")
        return v

    @field_validator("op_types", mode="before")
    @classmethod
    def _op_types(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


_ADVANCED = tuple(AdvancedQuantization.model_fields)
_OPTIONS = tuple(QuantizeOptions.model_fields)


class QuantizeStep(StepBase, AdvancedQuantization, QuantizeOptions):
    """Quantize the fp32 ONNX model (int8 QDQ with the target's profile, or fp16), checked against fp32."""

    stage: ClassVar[Literal["torch", "onnx"]] = "onnx"
    type: Literal["quantize"] = "quantize"

    @property
    def settings(self) -> QuantizeOptions:
        return QuantizeOptions(**{k: getattr(self, k) for k in _OPTIONS})

    @property
    def advanced(self) -> AdvancedQuantization:
        return AdvancedQuantization(**{k: getattr(self, k) for k in _ADVANCED})


def split_advanced(advanced: AdvancedQuantization | dict[str, Any] | None) -> AdvancedQuantization:
    """`advanced=` as given by a caller: None, a dict of its fields, or the object itself."""
    if advanced is None:
        return AdvancedQuantization()
    if isinstance(advanced, AdvancedQuantization):
        return advanced
    if isinstance(advanced, dict):
        return AdvancedQuantization(**advanced)
    raise InvalidInputError(f"advanced must be an AdvancedQuantization, got {type(advanced).__name__}")

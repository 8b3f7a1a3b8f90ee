"""The recipe's `search:` section: budgets and the space `edgecnn search` explores (torch- and optuna-free).

Each dimension is a list of the values to try; a list of one value fixes that dimension.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from edgecnn.errors import InvalidInputError
from edgecnn.quant.config import CalibrationMethod

SearchPrecision = Literal["int8", "fp16", "fp32"]


class SearchSpace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    precision: list[SearchPrecision] | None = Field(
        None, description="default: int8 and fp32, plus fp16 on GPU targets"
    )
    float_layers: list[int] = Field(
        [0, 2, 4], description="int8: keep the k most sensitive layers (quantization sensitivity ranking) in float"
    )
    calibration: list[CalibrationMethod] = Field(["minmax", "percentile"], description="int8 calibration methods")
    bias_correction: list[bool] = [False, True]
    qat_steps: list[int] = Field([0], description="int8: quantization-aware fine-tuning steps (0: none)")
    prune: list[float] = Field([0.0, 0.25, 0.5], description="channel-pruning ratios (0: no pruning)")
    round_to: list[int] = Field([8, 16], description="channel counts after pruning rounded to a multiple of this")
    dw_separable: list[bool] = Field([False], description="depthwise-separable substitution (then distillation)")
    depth_multiplier: list[int] = [1, 2]
    distill_epochs: int = Field(3, ge=0, description="recovery distillation after pruning or substitution")

    @field_validator("float_layers", "qat_steps", "round_to", "depth_multiplier")
    @classmethod
    def _non_negative(cls, values: list[int]) -> list[int]:
        if not values or any(v < 0 for v in values):
            raise ValueError(f"give a non-empty list of integers >= 0, got {values}")
        return sorted(set(values))

    @field_validator("prune")
    @classmethod
    def _ratios(cls, values: list[float]) -> list[float]:
        if not values or any(not 0 <= v < 1 for v in values):
            raise ValueError(f"pruning ratios are fractions in [0, 1), got {values}")
        return sorted(set(values))


class SearchSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_latency: str | None = Field(
        None, description="latency budget: milliseconds of p50 ('2.5ms') or a ratio of the float baseline ('0.5x')"
    )
    max_drop: float = Field(1.0, ge=0, description="points of top-1 (or of top-1 agreement with fp32 without labels)")
    trials: int = Field(20, ge=1)
    time: str | None = Field(None, description="wall-clock budget of one invocation: '90s', '20m', '1h'")
    parallel: int | None = Field(
        None,
        ge=1,
        description="trials built at once as Ray tasks (default: one at a time; on a cluster, its CPUs)",
    )
    space: SearchSpace = Field(default_factory=SearchSpace)

    @field_validator("max_latency")
    @classmethod
    def _latency(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                LatencyBudget.parse(v)
            except InvalidInputError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("time")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_duration(v)
            except InvalidInputError as exc:
                raise ValueError(str(exc)) from None
        return v


@dataclass(frozen=True)
class LatencyBudget:
    """p50 in milliseconds ("ms") or a ratio of the float baseline's p50 ("x"), measured interleaved."""

    value: float
    unit: Literal["ms", "x"]

    @classmethod
    def parse(cls, text: str) -> LatencyBudget:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|x)\s*", str(text))
        if not m or float(m.group(1)) <= 0:
            raise InvalidInputError(
                f"latency budget '{text}': give milliseconds of p50 ('2.5ms') or a ratio of the float model ('0.5x')"
            )
        return cls(float(m.group(1)), m.group(2))  # type: ignore[arg-type]

    def excess(self, ratio: float, p50_ms: float) -> float:
        """How far over budget (<= 0: within), in the budget's own unit."""
        return (ratio if self.unit == "x" else p50_ms) - self.value

    def __str__(self) -> str:
        return f"{self.value:g}{self.unit}"


_UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_duration(text: str) -> float:
    """'90s', '20m', '1.5h' -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh])\s*", str(text))
    if not m or float(m.group(1)) <= 0:
        raise InvalidInputError(f"time budget '{text}': give a duration such as '90s', '20m' or '1h'")
    return float(m.group(1)) * _UNITS[m.group(2)]

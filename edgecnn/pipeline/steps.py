"""The step types a recipe may list: one typed config class per step, selected by its `type`.

The torch passes' configs (`edgecnn.passes.configs`) and the ONNX-level `QuantizeStep` are the single
source: `StepConfig` (a pydantic discriminated union), the recipe JSON schema and `passes.PASSES` all
derive from `STEP_TYPES`. Each class knows its `stage` ("torch" or "onnx").
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from edgecnn.config import StepBase
from edgecnn.passes.configs import (
    TORCH_STEPS,
    DepthwiseSeparableConfig,
    DistillConfig,
    FoldBNConfig,
    PruneConfig,
    QATConfig,
    SparsifyConfig,
)
from edgecnn.quant.config import QuantizeStep

FoldBNStep = FoldBNConfig
DwSeparableStep = DepthwiseSeparableConfig
DistillStep = DistillConfig
PruneStep = PruneConfig
QATStep = QATConfig
SparsifyStep = SparsifyConfig

StepConfig = Annotated[
    Union[FoldBNStep, DwSeparableStep, DistillStep, QATStep, PruneStep, SparsifyStep, QuantizeStep],  # noqa: UP007
    Field(discriminator="type"),
]
STEP_TYPES: dict[str, type[StepBase]] = {cls.step_type(): cls for cls in (*TORCH_STEPS, QuantizeStep)}
_ADAPTER: TypeAdapter[Any] = TypeAdapter(StepConfig)


def step_names() -> list[str]:
    return sorted(STEP_TYPES)


def parse_step(data: dict[str, Any]) -> StepBase:
    """Validate one step dict into its typed config (pydantic ValidationError on a bad value)."""
    return _ADAPTER.validate_python(data)


def step_config_schema(name: str) -> dict[str, Any]:
    """JSON schema of one step: {type: const, ...its config fields}, no other keys."""
    cls = STEP_TYPES[name]
    schema = cls.model_json_schema()
    schema["properties"] = {"type": {"const": name}, **{k: v for k, v in schema["properties"].items() if k != "type"}}
    schema["required"] = ["type"]
    schema["additionalProperties"] = False
    schema["title"] = name
    schema["description"] = (cls.__doc__ or name).strip().splitlines()[0]
    return schema


def config_fields(name: str) -> list[str]:
    return [k for k in STEP_TYPES[name].model_fields if k != "type"]

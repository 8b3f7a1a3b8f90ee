"""Recipe: validated YAML describing one optimization run (model, steps, target, data, gates, profiling).

Unknown keys and wrong types are errors naming the key and its line in the file.
`recipe_json_schema()` is the published JSON schema (`edgecnn recipes --schema`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from edgecnn.config import ConfigError, at_line, explain_yaml, parse_yaml
from edgecnn.errors import InvalidInputError, UserError, close_matches
from edgecnn.pipeline.search_space import SearchSection
from edgecnn.pipeline.steps import STEP_TYPES, StepConfig, parse_step, step_config_schema, step_names
from edgecnn.profiling.timing import DEFAULT_PROTOCOL, TimingProtocol
from edgecnn.targets import TARGETS
from edgecnn.targets.base import check_device

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSection(_Strict):
    name: str = Field(
        description="zoo name, package.module:factory, TorchScript/weights file (with arch), or an ONNX file"
    )
    weights: str = Field("auto", description="auto | pretrained | random | path to a state dict")
    arch: str | None = Field(None, description="zoo architecture for a weights file")
    input_shape: list[int] | None = Field(None, description="N C H W (or N C L); defaults to the zoo's")
    num_classes: int | None = None


class DataSection(_Strict):
    calib: str | None = Field(
        None, description="calibration images folder or .npy/.npz; default: the shipped photo set"
    )
    calib_size: int = Field(300, ge=1)
    eval: str | None = Field(None, description="labelled data (ImageFolder or .npz with x, y) for accuracy")
    train: str | None = Field(None, description="data for distillation; default: the calibration data")


class GatesSection(_Strict):
    max_accuracy_drop: float | None = Field(
        None, ge=0, description="points of top-1 (or of top-1 agreement without labels)"
    )
    min_speedup: float | None = Field(None, gt=0, description="baseline p50 / optimized p50 must reach this")
    max_size_mb: float | None = Field(None, gt=0)
    require_speedup: bool = Field(False, description="fail when the optimized model is not faster than the baseline")


class ProfileSection(_Strict):
    threads: int | None = Field(None, ge=1, description="default: all physical cores")
    batch: int = Field(1, ge=1)
    warmup: int = Field(DEFAULT_PROTOCOL.warmup, ge=0)
    min_iters: int = Field(DEFAULT_PROTOCOL.min_iters, ge=1)
    min_seconds: float = Field(DEFAULT_PROTOCOL.min_seconds, ge=0)
    rounds: int = Field(DEFAULT_PROTOCOL.rounds, ge=1)

    def protocol(self) -> TimingProtocol:
        """This section as the timing protocol the profile stage runs."""
        return TimingProtocol(
            warmup=self.warmup, min_iters=self.min_iters, min_seconds=self.min_seconds, rounds=self.rounds
        )


class Recipe(_Strict):
    schema_version: Literal[1] = SCHEMA_VERSION
    name: str | None = None
    description: str | None = None
    model: ModelSection
    steps: list[StepConfig] = Field(default_factory=list, description="ordered steps, each {type: ..., <config>}")
    target: str = Field(  # validated against the targets registry; the schema lists its names
        "onnxruntime", description="a registered target", json_schema_extra={"enum": TARGETS.names()}
    )
    device: str | None = Field(None, description="tcp://host:port of an edgecnn agent (arm / remote devices)")
    # a secret: every dump (report, --dry-run, YAML) shows it as '**********'; `agent_token` is the real one
    token: SecretStr | None = Field(None, description="the agent's shared token (or EDGECNN_AGENT_TOKEN)")
    data: DataSection = Field(default_factory=DataSection)
    gates: GatesSection = Field(default_factory=GatesSection)
    profile: ProfileSection = Field(default_factory=ProfileSection)
    bundle: bool = True
    seed: int = 0
    search: SearchSection | None = Field(
        None, description="budgets and space of `edgecnn search` (optimize ignores it)"
    )

    @field_validator("steps", mode="before")
    @classmethod
    def _check_steps(cls, steps: Any) -> Any:
        if isinstance(steps, list):
            for i, step in enumerate(steps):
                _check_step_keys(i, step)
        return steps

    @field_validator("device")
    @classmethod
    def _check_device(cls, device: str | None) -> str | None:
        try:
            return check_device(device)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("target")
    @classmethod
    def _check_target(cls, target: str) -> str:
        if target not in TARGETS:
            known = TARGETS.names()
            raise ValueError(f"unknown target '{target}'.{close_matches(target, known)} Known: {', '.join(known)}")
        return target

    @property
    def agent_token(self) -> str | None:
        """The device agent's token, for connecting only: never write it anywhere."""
        return self.token.get_secret_value() if self.token is not None else None

    @property
    def torch_steps(self) -> list[Any]:
        return [s for s in self.steps if s.stage == "torch"]

    @property
    def onnx_steps(self) -> list[Any]:
        return [s for s in self.steps if s.stage == "onnx"]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=False), sort_keys=False)


def _check_step_keys(index: int, step: Any) -> None:
    """A known `type` and only that step's keys (typed values are checked by the step's class)."""
    if isinstance(step, BaseModel):
        return
    if not isinstance(step, dict) or "type" not in step:
        raise ValueError(f"step {index} needs a 'type' (one of: {', '.join(step_names())})")
    kind = step["type"]
    if kind not in STEP_TYPES:
        raise ValueError(
            f"unknown step type '{kind}'.{close_matches(str(kind), step_names())} Known: {', '.join(step_names())}"
        )
    names = set(STEP_TYPES[kind].model_fields)
    unknown = sorted(set(step) - names)
    if unknown:
        valid = ", ".join(sorted(names - {"type"}))
        raise ValueError(f"unknown key(s) {', '.join(unknown)} for step '{kind}'; valid: {valid}")


def validate_step(index: int, step: Any) -> Any:
    """Check one step and return its typed config (a `StepConfig` member)."""
    _check_step_keys(index, step)
    return step if isinstance(step, BaseModel) else parse_step(step)


def load_recipe(source: str | Path | dict[str, Any]) -> Recipe:
    """Load and validate a recipe from a YAML file, a YAML string or a dict."""
    text, where = None, "recipe"
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        if isinstance(source, Path) or (len(str(source)) < 4096 and path.suffix in (".yaml", ".yml")):
            if not path.exists():
                raise InvalidInputError(f"recipe not found: {path} (shipped recipes: `edgecnn recipes`)")
            if not path.is_file():
                raise InvalidInputError(f"recipe {path} is a directory, not a YAML file")
            try:
                text, where = path.read_text(encoding="utf-8"), str(path)
            except UnicodeDecodeError:
                raise InvalidInputError(f"recipe {path} is not a text (UTF-8 YAML) file") from None
        else:
            text = str(source)
        data = parse_yaml(text, where)
    if not isinstance(data, dict):
        raise InvalidInputError(f"{where}: a recipe is a YAML mapping with at least a 'model' key")
    steps = data.get("steps")
    if steps is not None and not isinstance(steps, list):
        raise InvalidInputError(
            f"{at_line(where, text, ['steps'])}: steps: a list of steps ({{type: ..., <config>}}), "
            f"got {type(steps).__name__}"
        )
    for i, step in enumerate(steps or []):  # first, so a bad step is reported with its line
        try:
            validate_step(i, step)
        except (ValidationError, ConfigError) as exc:
            error = exc.validation_error if isinstance(exc, ConfigError) else exc
            raise InvalidInputError(explain_yaml(error, text, where, prefix=["steps", i], data=step)) from None
        except (ValueError, UserError) as exc:  # pass configs check their own values in __post_init__
            raise InvalidInputError(f"{at_line(where, text, ['steps', i])}: steps[{i}]: {exc}") from None
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(explain_yaml(exc, text, where, data=data)) from None


def recipe_json_schema() -> dict[str, Any]:
    """The published JSON schema: the Recipe model, with `steps` as oneOf the known step types."""
    schema = Recipe.model_json_schema()
    schema["properties"]["steps"]["items"] = {"oneOf": [step_config_schema(name) for name in step_names()]}
    defs = schema.get("$defs", {})
    for cls in STEP_TYPES.values():  # the step classes are inlined above
        defs.pop(cls.__name__, None)
    if not defs:
        schema.pop("$defs", None)
    schema["$id"] = "https://edgecnn.dev/schemas/recipe-v1.json"
    return schema

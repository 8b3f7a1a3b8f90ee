"""The base of every typed, frozen config (pass configs, quantization options): a pydantic model.

Unknown keys are errors; constructing one directly with a wrong value raises InvalidInputError (a user
error), while `model_validate` keeps pydantic's ValidationError so recipe loading can point at the field.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, ValidationError, model_serializer

from edgecnn.errors import InvalidInputError


def explain(exc: ValidationError, what: str) -> str:
    """One line per problem: `what: field: message`."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "config"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        parts.append(msg if err["type"] == "value_error" else f"{field}: {msg}")  # value errors name their field
    text = "; ".join(parts)
    return text if text.startswith(f"{what}: ") else f"{what}: {text}"


class ConfigError(InvalidInputError):
    """A bad config value; `validation_error` keeps pydantic's error (with field locations)."""

    def __init__(self, message: str, validation_error: ValidationError) -> None:
        super().__init__(message)
        self.validation_error = validation_error


class Config(BaseModel):
    """Frozen, strict about keys; `Config(**kw)` raises InvalidInputError for a bad value."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            kind = type(self).model_fields.get("type")
            name = kind.default if kind is not None else type(self).__name__
            raise ConfigError(explain(exc, name), exc) from None

    def replace(self, **changes: Any) -> Config:
        """A validated copy with `changes` applied."""
        return type(self)(**{**self.options(), **changes})

    def options(self) -> dict[str, Any]:
        """The config's values (without the step `type`)."""
        return {k: getattr(self, k) for k in type(self).model_fields if k != "type"}


class StepBase(Config):
    """A recipe step: a config with a `type` literal (the discriminator) and the stage it runs on."""

    stage: ClassVar[Literal["torch", "onnx"]]
    implementation: ClassVar[str | None] = None  # "module:Class" of the Pass that runs it (imported lazily)

    @model_serializer(mode="wrap")
    def _type_first(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        return {"type": data.pop("type"), **data} if isinstance(data, dict) and "type" in data else data

    @classmethod
    def step_type(cls) -> str:
        return cls.model_fields["type"].default

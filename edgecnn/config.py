"""The base of every typed, frozen config (pass configs, quantization options): a pydantic model.

Unknown keys are errors; constructing one directly with a wrong value raises InvalidInputError (a user
error), while `model_validate` keeps pydantic's ValidationError so recipe loading can point at the field.
`parse_yaml`, `explain_yaml` and `at_line` are how every YAML file (recipes, bench suites) reports a problem:
one line, `FILE:LINE: field: what is wrong`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
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


def read_yaml_file(path: Path, what: str) -> tuple[Any, str]:
    """The parsed YAML of `path` and its text (for line numbers in errors); a missing file or one that is not
    UTF-8 text is one line naming `what` ("suite", "sweep")."""
    if not path.is_file():
        raise InvalidInputError(f"{what} file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not a text (UTF-8 YAML) file") from None
    return parse_yaml(text, str(path)), text


def parse_yaml(text: str, where: str) -> Any:
    """YAML text -> data (safe loader); a syntax error is one line naming the file and the line."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise InvalidInputError(f"{where}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from None


_UNKNOWN_KEY = ("extra_forbidden", "unexpected_keyword_argument")


def explain_yaml(
    exc: ValidationError, text: str | None, where: str, prefix: Sequence[Any] = (), data: Any = None
) -> str:
    """pydantic's first error as `where:LINE: field.path: message` (the line of the YAML node, when known).

    With `data` (what was validated), the path keeps only the keys and indices found in it, so the labels
    pydantic adds for union members and tags never show (the last key stays: a missing field)."""
    errors = exc.errors()
    unknown = [e for e in errors if e["type"] in _UNKNOWN_KEY]
    err = (unknown or errors)[0]  # a misspelt key also makes the real one "missing": name the cause
    loc = [p for p in err["loc"] if not str(p).startswith("function-")]
    loc = [*prefix, *(_in_data(loc, data) if data is not None else loc)]
    field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc).replace(".[", "[") or "file"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] in _UNKNOWN_KEY:
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required field is missing"
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return f"{at_line(where, text, loc)}: {field}: {msg}{more}"


def _in_data(loc: list[Any], data: Any) -> list[Any]:
    path, node = [], data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif not (isinstance(node, dict) and i == len(loc) - 1):
            continue  # a label of pydantic's, not a key of the file
        path.append(part)
    return path


def at_line(where: str, text: str | None, loc: Sequence[Any]) -> str:
    """`where:LINE` for the YAML node at `loc` (keys and list indices), or its closest existing parent."""
    line = _line_of(text, loc) if text else None
    return f"{where}:{line}" if line else where


def _line_of(text: str, loc: Sequence[Any]) -> int | None:
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node else None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == key), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


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

"""The sweep file: models x recipes x targets (and device agents), validated by pydantic, expanded into cells.

```yaml
name: ci-small
models: [lenet5, smallcnn]              # zoo names, model files (relative to this file) or package.module:factory
recipes:                                # name: a shipped recipe, a recipe file, or an inline recipe (no model)
  int8: smallcnn-int8-onnxruntime
  fp32: {steps: [{type: fold_bn}]}
targets: [onnxruntime, openvino]
profile: {threads: 1, rounds: 3}        # optional: overrides every recipe's profile section
devices:                                # optional: edgecnn agents (`edgecnn agent serve`) by name
  pi4: {address: "tcp://10.0.0.7:7788", token_env: PI4_TOKEN, targets: [arm]}
```
A target that runs on a device (arm) gets one cell per device that lists it. Every mistake is one line naming
the file, the line and the field (`edgecnn.config.explain_yaml`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from edgecnn.config import at_line, explain_yaml, parse_yaml, read_yaml_file
from edgecnn.errors import InvalidInputError, UserError
from edgecnn.pipeline.build import build_recipe
from edgecnn.pipeline.recipe import ProfileSection, Recipe
from edgecnn.pipeline.shipped import resolve_recipe
from edgecnn.targets import TARGETS, get_target
from edgecnn.targets.base import check_device


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeviceEntry(_Strict):
    address: str = Field(description="tcp://HOST:PORT (or tls://) of `edgecnn agent serve`")
    token_env: str | None = Field(None, description="environment variable holding the agent's token")
    targets: list[str] | None = Field(None, description="targets timed on this device; default: the device targets")

    @field_validator("address")
    @classmethod
    def _check_address(cls, address: str) -> str:
        if not address.startswith(("tcp://", "tls://")):
            raise ValueError(f"a device agent's address is tcp://HOST:PORT (or tls://), got {address!r}")
        try:
            check_device(address)
        except InvalidInputError as exc:
            raise ValueError(str(exc)) from None
        return address


class SweepFile(_Strict):
    name: str = "sweep"
    description: str | None = None
    models: list[str] = Field(min_length=1)
    recipes: dict[str, str | dict[str, Any]] = Field(min_length=1)
    targets: list[str] = Field(min_length=1)
    profile: dict[str, Any] | None = Field(None, description="overrides each recipe's profile section")
    devices: dict[str, DeviceEntry] = Field(default_factory=dict)

    @field_validator("targets")
    @classmethod
    def _check_targets(cls, targets: list[str]) -> list[str]:
        unknown = [t for t in targets if t not in TARGETS]
        if unknown:
            raise ValueError(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(TARGETS.names())}")
        return targets

    @field_validator("profile")
    @classmethod
    def _check_profile(cls, profile: dict[str, Any] | None) -> dict[str, Any] | None:
        if profile is not None:
            ProfileSection.model_validate(profile)  # its errors name the field
        return profile


@dataclass(frozen=True)
class Cell:
    """One optimize run of the sweep. `id` names its folder and its row; `digest` tells whether a finished
    result still belongs to this cell (`--resume` re-runs a cell whose recipe changed)."""

    id: str
    model: str
    recipe_name: str
    target: str
    device: str | None  # a device agent's name
    recipe: Recipe

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.recipe.model_dump_json().encode()).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "recipe": self.recipe_name,
            "target": self.target,
            "device": self.device,
            "digest": self.digest,
        }


@dataclass(frozen=True)
class Sweep:
    name: str
    cells: list[Cell]
    devices: dict[str, str]  # agent name -> address

    @property
    def device_names(self) -> list[str]:
        return list(self.devices)


def load_sweep(path: str | Path) -> Sweep:
    """Read, validate and expand a sweep file (recipe and model files resolve against its folder)."""
    path = Path(path)
    data, text = read_yaml_file(path, "sweep")
    return parse_sweep(data, where=str(path), base_dir=path.parent, text=text)


def parse_sweep(data: Any, *, where: str = "sweep", base_dir: Path = Path("."), text: str | None = None) -> Sweep:
    """Validate a sweep given as a dict (`text`: its YAML source, for line numbers) and expand it into cells."""
    if not isinstance(data, dict):
        raise InvalidInputError(
            f"{where}: a sweep is a YAML mapping (models, recipes, targets), got {type(data).__name__}"
        )
    try:
        sweep = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(explain_yaml(exc, text, where, data=data)) from None

    def fail(loc: list[Any], message: str) -> InvalidInputError:
        return InvalidInputError(f"{at_line(where, text, loc)}: {message}")

    recipes = {
        name: _recipe_data(source, base_dir, lambda m, n=name: fail(["recipes", n], m))
        for name, source in sweep.recipes.items()
    }
    if sweep.profile:
        for data_ in recipes.values():
            data_["profile"] = {**(data_.get("profile") or {}), **sweep.profile}
    cells: list[Cell] = []
    for t_index, target in enumerate(sweep.targets):
        devices = _devices_for(target, sweep, lambda m, i=t_index: fail(["targets", i], m))
        for m_index, model in enumerate(sweep.models):
            name = _model_name(model, base_dir)
            for recipe_name, recipe_data in recipes.items():
                for device in devices:
                    entry = sweep.devices.get(device) if device else None
                    try:
                        recipe = build_recipe(
                            name,
                            recipe=recipe_data,
                            target=target,
                            device=entry.address if entry else None,
                            token=_token(entry) if entry else None,
                        )
                    except UserError as exc:
                        raise fail(
                            ["recipes", recipe_name], f"recipes.{recipe_name} with model {model}: {exc}"
                        ) from None
                    cell_id = _cell_id(model, recipe_name, target, device)
                    if any(c.id == cell_id for c in cells):
                        raise fail(
                            ["models", m_index], f"cell {cell_id} appears twice (a model or recipe is listed twice)"
                        )
                    cells.append(Cell(cell_id, model, recipe_name, target, device, recipe))
    return Sweep(sweep.name, cells, {n: d.address for n, d in sweep.devices.items()})


def _recipe_data(source: str | dict[str, Any], base_dir: Path, fail) -> dict[str, Any]:
    """A recipe as a dict: inline (its model filled in per cell), a recipe file or a shipped recipe name."""
    if isinstance(source, dict):
        return {"model": {"name": "placeholder"}, **source}
    local = base_dir / source
    path = local if local.is_file() else None
    try:
        path = path or resolve_recipe(source)
        data = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (UserError, OSError) as exc:
        raise fail(str(exc)) from None
    if not isinstance(data, dict):
        raise fail(f"{path}: a recipe is a YAML mapping")
    return data


def _devices_for(target: str, sweep: SweepFile, fail) -> list[str | None]:
    """The device agents a target's cells run on: [None] for a target timed here; one per agent for a device
    target (an agent's `targets` default to every device target)."""
    remote = get_target(target).device == "remote"
    named = [n for n, d in sweep.devices.items() if target in (d.targets or ([target] if remote else []))]
    if remote and not named:
        raise fail(f"target {target} runs on a device agent: declare one under devices: (address: tcp://HOST:PORT)")
    return named or [None]


def _token(entry: DeviceEntry) -> str | None:
    return os.environ.get(entry.token_env) if entry.token_env else None


def _model_name(model: str, base_dir: Path) -> str:
    local = base_dir / model
    return str(local) if ("/" in model or "." in Path(model).name) and local.exists() else model


def _cell_id(model: str, recipe: str, target: str, device: str | None) -> str:
    parts = [Path(model).stem if "/" in model else model, recipe, target] + ([device] if device else [])
    return "--".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", p) for p in parts)

"""ModelSpec: an nn.Module plus everything deploying it needs (input, preprocessing, labels, provenance).

Kept free of a module-level torch import so torch-free code (bundle loader, device agent) can share
InputSpec and Preprocess.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from edgecnn.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Layout = Literal["NCHW", "NCL"]
WeightsKind = Literal["pretrained", "file", "random", "user"]  # user: a module handed over with its own weights


@dataclass(frozen=True)
class InputSpec:
    """Model input: full shape including batch, dtype, layout and name."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    layout: Layout = "NCHW"
    name: str = "input"

    def __post_init__(self) -> None:
        if any(int(d) < 1 for d in self.shape):
            raise InvalidInputError(f"input shape {tuple(self.shape)} has a dimension below 1")
        expected = {"NCHW": 4, "NCL": 3}[self.layout]
        if len(self.shape) != expected:
            raise InvalidInputError(f"layout {self.layout} needs a {expected}-d input shape, got {tuple(self.shape)}")
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

    @property
    def channels(self) -> int:
        return self.shape[1]

    @property
    def spatial(self) -> tuple[int, ...]:
        return self.shape[2:]

    def with_batch(self, batch: int) -> InputSpec:
        return dataclasses.replace(self, shape=(batch, *self.shape[1:]))

    def with_spatial(self, *spatial: int) -> InputSpec:
        return dataclasses.replace(self, shape=(*self.shape[:2], *spatial))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype, "layout": self.layout}


@dataclass(frozen=True)
class Preprocess:
    """How a raw image becomes the model input: resize shorter side, centre crop, scale to [0,1], normalise."""

    resize: int | None = None
    crop: int | tuple[int, int] | None = None
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    grayscale: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "resize": self.resize,
            "crop": list(self.crop) if isinstance(self.crop, tuple) else self.crop,
            "mean": list(self.mean),
            "std": list(self.std),
            "grayscale": self.grayscale,
            "scale": "divide by 255, then (x - mean) / std, channels first",
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocess:
        crop = data.get("crop")
        return cls(
            resize=data.get("resize"),
            crop=tuple(crop) if isinstance(crop, list) else crop,
            mean=tuple(data.get("mean", IMAGENET_MEAN)),
            std=tuple(data.get("std", IMAGENET_STD)),
            grayscale=bool(data.get("grayscale", False)),
        )


@dataclass
class ModelSpec:
    """A model ready to be transformed and deployed."""

    module: nn.Module
    input: InputSpec
    name: str
    source: str = "module"
    weights: WeightsKind = "user"
    preprocess: Preprocess | None = None
    labels: list[str] | None = None
    family: str = "custom"
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)

    def replace(self, **changes: Any) -> ModelSpec:
        """A shallow copy with some fields changed (the module is shared unless replaced)."""
        return dataclasses.replace(self, **changes)

    def copy(self) -> ModelSpec:
        """A copy whose module can be mutated without touching this one."""
        return dataclasses.replace(self, module=copy.deepcopy(self.module), notes=list(self.notes))

    def example_input(self, batch: int = 1, *, seed: int = 0) -> torch.Tensor:
        import torch

        gen = torch.Generator().manual_seed(seed)
        return torch.randn(self.input.with_batch(batch).shape, generator=gen)

    @property
    def num_classes(self) -> int | None:
        return len(self.labels) if self.labels else None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "family": self.family,
            "weights": self.weights,
            "sha256": self.sha256,
            "input": self.input.to_dict(),
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
        }


def as_spec(
    model: ModelSpec | nn.Module, *, input_shape: tuple[int, ...] | None = None, name: str = "model"
) -> ModelSpec:
    """Accept a ModelSpec or a plain nn.Module (which then needs input_shape)."""
    if isinstance(model, ModelSpec):
        return model
    from torch import nn

    if not isinstance(model, nn.Module):
        raise InvalidInputError(f"expected a ModelSpec or torch.nn.Module, got {type(model).__name__}")
    if input_shape is None:
        raise InvalidInputError("a plain nn.Module needs input_shape=(N, C, H, W) or (N, C, L)")
    layout: Layout = "NCL" if len(input_shape) == 3 else "NCHW"
    return ModelSpec(module=model, input=InputSpec(tuple(input_shape), layout=layout), name=name, source="module")

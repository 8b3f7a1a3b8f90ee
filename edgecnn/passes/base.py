"""Pass and PassContext: a pass is a typed, frozen config plus a pure `apply(spec, ctx) -> spec`."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from edgecnn.config import StepBase
from edgecnn.errors import InvalidInputError
from edgecnn.registry import Registry
from edgecnn.spec import ModelSpec, as_spec

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from torch import nn

log = logging.getLogger("edgecnn.passes")


@dataclass
class PassContext:
    """What passes may need. Passes append their reports to `reports`."""

    calib_data: Iterable[np.ndarray] | None = None
    train_data: Any = None
    teacher: ModelSpec | None = None  # the float model before any pass: what a `distill` step learns from
    device: str = "cpu"
    seed: int = 0
    progress: bool = True
    reports: list[dict[str, Any]] = field(default_factory=list)

    def seed_everything(self) -> None:
        import numpy as np
        import torch

        random.seed(self.seed)
        np.random.seed(self.seed)
        torch.manual_seed(self.seed)


class Pass:
    """Subclasses set `name`, `Config` (a typed, frozen config from `edgecnn.passes.configs`) and implement
    `run(spec, ctx) -> (spec, report)`.

    `apply` copies the input first, times the pass, switches training-mode models to eval with a warning,
    and records the report in the context; `run` may therefore mutate the copy it is given.
    """

    name: ClassVar[str]
    Config: ClassVar[type[StepBase]]
    copies_input: ClassVar[bool] = True

    def __init__(self, config: Any = None, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(self.Config.model_fields) | ({"type"} & set(kwargs)))
        if unknown:
            fields = ", ".join(k for k in self.Config.model_fields if k != "type")
            raise InvalidInputError(f"{self.name}: unknown option(s) {', '.join(unknown)}; valid options: {fields}")
        if config is None:
            config = self.Config(**kwargs)
        elif kwargs:
            config = config.replace(**kwargs)
        self.config = config

    def run(self, spec: ModelSpec, ctx: PassContext) -> tuple[ModelSpec, dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError

    def apply(self, spec: ModelSpec, ctx: PassContext | None = None) -> ModelSpec:
        ctx = ctx or PassContext()
        work = spec.copy() if self.copies_input else spec
        if work.module.training:
            log.warning("%s: model was in training mode; switched to eval", self.name)
            work.module.eval()
        start = time.perf_counter()
        out, report = self.run(work, ctx)
        ctx.reports.append(
            {
                "type": self.name,
                "config": self.config.options(),
                "report": report,
                "seconds": round(time.perf_counter() - start, 3),
            }
        )
        return out


PASSES: Registry[type[Pass]] = Registry("pass")


def apply_pass(pass_: Pass, model: ModelSpec | nn.Module, ctx: PassContext | None = None) -> tuple[Any, dict[str, Any]]:
    """Run a pass on a ModelSpec or a plain nn.Module; return the same kind plus the pass report."""
    ctx = ctx or PassContext()
    if isinstance(model, ModelSpec):
        spec = model
    else:
        spec = as_spec(model, input_shape=_guess_shape(model), name=type(model).__name__)
    out = pass_.apply(spec, ctx)
    report = ctx.reports[-1]
    return (out if isinstance(model, ModelSpec) else out.module), report


def _guess_shape(module: nn.Module) -> tuple[int, ...]:
    """Plain modules carry no input spec; a pass that needs one must be given a ModelSpec."""
    shape = getattr(module, "input_shape", None)
    return tuple(shape) if shape else (1, 3, 224, 224)

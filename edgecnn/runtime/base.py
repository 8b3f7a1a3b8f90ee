"""Backend / Session: the one way to run a model, used by validation, evaluation and profiling alike.

Torch-free at import time so the bundle loader and the device agent can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from edgecnn.errors import InvalidInputError
from edgecnn.registry import Registry


@dataclass(frozen=True)
class SessionOptions:
    threads: int | None = None  # None: the runtime's default (all physical cores)
    device: str = "cpu"  # "cpu", "cuda", "cuda:1"
    precision: str | None = None  # runtime-specific inference precision hint (OpenVINO "f32", "bf16")
    extra: dict[str, Any] = field(default_factory=dict)


class Session(Protocol):
    """A loaded model. `run` takes one array (single input) or a name->array dict; returns output arrays.

    A context manager: `with load_session(artifact) as session: ...` closes it (frees the runtime's memory,
    ends a device agent's connection) when the block ends.
    """

    backend: str
    input_names: list[str]
    output_names: list[str]
    input_shapes: list[list[int | str | None]]  # per input; a non-int dim is dynamic

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]: ...

    def describe(self) -> dict[str, Any]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Session: ...

    def __exit__(self, *exc: object) -> None: ...


_S = TypeVar("_S", bound="SessionBase")


class SessionBase:
    """The open/close contract every backend session shares: `close()` is idempotent, and `with` closes."""

    def close(self) -> None:
        """Release what the session holds; a subclass frees its runtime objects and calls this."""

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Backend(Protocol):
    name: str

    def load(self, artifact: Any, options: SessionOptions) -> Session: ...


BACKENDS: Registry[Backend] = Registry("backend")


def feed(names: Sequence[str], inputs: np.ndarray | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Normalise `inputs` to a name->array dict."""

    if isinstance(inputs, dict):
        missing = set(names) - set(inputs)
        if missing:
            raise InvalidInputError(f"missing model inputs: {', '.join(sorted(missing))}")
        return inputs
    if len(names) != 1:
        raise InvalidInputError(f"the model has {len(names)} inputs ({', '.join(names)}); pass a dict")
    return {names[0]: inputs}

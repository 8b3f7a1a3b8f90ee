"""One small registry class for every concept (models, passes, targets, backends).

Entries may be given lazily as "module:attr" strings so listing names never imports heavy code.
"""

from __future__ import annotations

import importlib
from typing import Any, Generic, TypeVar

from edgecnn.errors import UnknownNameError, close_matches

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def add(self, name: str, obj: T | str) -> None:
        """Register an object, or a lazy "package.module:attr" reference to it."""
        self._entries[name] = obj

    def register(self, name: str):
        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def remove(self, name: str) -> None:
        """Unregister `name` (plugins and tests that add a temporary entry)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'.{close_matches(name, self.names())} Available: {', '.join(self.names())}"
            )
        obj = self._entries[name]
        if isinstance(obj, str):
            module, _, attr = obj.partition(":")
            obj = getattr(importlib.import_module(module), attr)
            self._entries[name] = obj
        return obj

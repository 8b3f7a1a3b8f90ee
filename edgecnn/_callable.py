"""Let a subpackage double as a function: `edgecnn.export(...)` and `edgecnn.export.onnx` both work.

Python binds `edgecnn.export` to the subpackage as soon as any of its modules is imported, which would
shadow a top-level `export` function; making the module itself callable keeps both spellings working.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def callable_module(module_name: str, target: str) -> None:
    """Make `sys.modules[module_name]` callable, forwarding calls to "module:attr" `target`."""

    class _CallableModule(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            module, _, attr = target.partition(":")
            return getattr(importlib.import_module(module), attr)(*args, **kwargs)

    sys.modules[module_name].__class__ = _CallableModule

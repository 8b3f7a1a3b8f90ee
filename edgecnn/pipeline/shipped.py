"""The shipped recipes: package data in edgecnn/recipes/*.yaml, so a wheel install finds them as a checkout does.

`recipes_dir()` is the one place that locates them; the top-level recipes/ folder is a copy for people browsing
the repository, kept identical by a test (tests/pipeline/test_recipe.py).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from edgecnn.errors import UnknownNameError, close_matches


def recipes_dir() -> Path:
    """The folder of the shipped recipes inside the installed package (edgecnn is installed unzipped)."""
    return Path(str(resources.files("edgecnn") / "recipes"))


def shipped_recipes() -> dict[str, Path]:
    folder = recipes_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def resolve_recipe(name_or_path: str) -> Path:
    """A recipe file path, or the name of a shipped recipe."""
    path = Path(name_or_path)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    shipped = shipped_recipes()
    if name_or_path not in shipped:
        raise UnknownNameError(
            f"no recipe file or shipped recipe '{name_or_path}'.{close_matches(name_or_path, list(shipped))} "
            f"Shipped: {', '.join(shipped) or 'none found'}"
        )
    return shipped[name_or_path]


def describe(path: Path) -> str:
    data = yaml.safe_load(path.read_text()) or {}
    return str(data.get("description") or "").strip().splitlines()[0] if data.get("description") else ""

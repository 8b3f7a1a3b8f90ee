"""The recipes shipped in recipes/ (found next to the package in a source checkout / editable install)."""

from __future__ import annotations

from pathlib import Path

import yaml

from edgecnn.errors import UnknownNameError, close_matches

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"


def shipped_recipes() -> dict[str, Path]:
    return {p.stem: p for p in sorted(RECIPES_DIR.glob("*.yaml"))} if RECIPES_DIR.is_dir() else {}


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

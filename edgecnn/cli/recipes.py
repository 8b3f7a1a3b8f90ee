"""`edgecnn recipes`: list the shipped recipes, show one, or print the recipe JSON schema."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from edgecnn.cli.console import console, escape, say
from edgecnn.pipeline.shipped import describe, resolve_recipe, shipped_recipes


def recipes(
    schema: Annotated[bool, typer.Option("--schema", help="Print the recipe JSON schema.")] = False,
    show: Annotated[str | None, typer.Option("--show", help="Print one shipped recipe.")] = None,
    validate: Annotated[
        str | None, typer.Option("--validate", metavar="FILE", help="Validate a recipe file and say what is wrong.")
    ] = None,
) -> None:
    """List the shipped recipes (package data: edgecnn/recipes/*.yaml)."""

    if schema:
        from edgecnn.pipeline.recipe import recipe_json_schema

        typer.echo(json.dumps(recipe_json_schema(), indent=2))
        return
    if show:
        typer.echo(resolve_recipe(show).read_text())
        return
    if validate:
        from edgecnn.pipeline.recipe import load_recipe

        recipe = load_recipe(resolve_recipe(validate))
        say(f"{validate} ({len(recipe.steps)} steps, target {recipe.target})", prefix="[green]valid[/]: ")
        return
    from rich.table import Table

    table = Table(title="shipped recipes (edgecnn optimize --recipe NAME)")
    table.add_column("name")
    table.add_column("description")
    for name, path in shipped_recipes().items():
        table.add_row(escape(name), escape(describe(path)))
    console.print(table)

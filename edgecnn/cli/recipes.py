"""`edgecnn recipes`: list the shipped recipes, show one, or print the recipe JSON schema."""

from __future__ import annotations

import json

import typer


def register(app: typer.Typer) -> None:
    @app.command("recipes")
    def recipes(
        schema: bool = typer.Option(False, "--schema", help="Print the recipe JSON schema."),
        show: str = typer.Option(None, "--show", help="Print one shipped recipe."),
        validate: str = typer.Option(
            None, "--validate", metavar="FILE", help="Validate a recipe file and say what is wrong."
        ),
    ) -> None:
        """List shipped recipes (recipes/*.yaml)."""
        from edgecnn.cli.console import console
        from edgecnn.pipeline.shipped import describe, resolve_recipe, shipped_recipes

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
            console.print(f"[green]valid[/]: {validate} ({len(recipe.steps)} steps, target {recipe.target})")
            return
        from rich.table import Table

        table = Table(title="shipped recipes (edgecnn optimize --recipe NAME)")
        table.add_column("name")
        table.add_column("description")
        for name, path in shipped_recipes().items():
            table.add_row(name, describe(path))
        console.print(table)

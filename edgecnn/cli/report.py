"""`edgecnn report`: print the report.json JSON Schema, or validate a report.json against it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgecnn.cli.console import say
from edgecnn.errors import InternalError, InvalidInputError
from edgecnn.report.build import validate_report


def report_cmd(
    schema: Annotated[bool, typer.Option("--schema", help="Print the report.json JSON Schema.")] = False,
    validate: Annotated[
        Path | None,
        typer.Option("--validate", metavar="FILE", help="Validate a report.json and say what is wrong."),
    ] = None,
) -> None:
    """The report.json schema (docs/report.md): print it, or check a report against it."""
    if schema:
        from edgecnn.report.schema import report_json_schema

        typer.echo(json.dumps(report_json_schema(), indent=2))
        return
    if validate is None:
        raise InvalidInputError("give --schema (print the report.json schema) or --validate FILE")

    if not validate.is_file():
        raise InvalidInputError(f"report not found: {validate}")
    try:
        data = json.loads(validate.read_text())
    except ValueError as exc:
        raise InvalidInputError(f"{validate} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{validate} is not a report (a JSON object)")
    if data.get("kind") == "profile":
        raise InvalidInputError(f"{validate} is a profile result (edgecnn profile), not an optimize report")
    try:
        result = validate_report(data, complete=True)
    except InternalError as exc:
        raise InvalidInputError(f"{validate}: {exc}") from None
    say(
        f"{validate} (schema_version {result.schema_version}, {result.model.name} -> {result.target})",
        prefix="[green]valid[/]: ",
    )

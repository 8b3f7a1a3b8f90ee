"""The results file of `edgecnn bench run`: versioned JSON with per-round, per-iteration timings.

```
{"schema": "edgecnn.bench.results", "schema_version": 1, "edgecnn_version", "created",
 "suite": {"name", "path", "sha256", "definition"}, "protocol": {...}, "metric", "seed",
 "environment": {... fingerprint ...},
 "cases": [{"id", "config": {...}, "artifact": {"path", "format", "precision", "sha256", "bytes"},
            "session": {...}, "latency_ms": {"p50", ...}, "iterations", "throughput",
            "rounds_ms": [[t, ...], ...], "accuracy": {"top1", "dataset", "samples"} | null}],
 "reference": {"id", "description", "rounds_ms"},   # the fixed reference workload, timed in the same rounds
 "gates": [{"name", "type", "case", "reference", "threshold", "value", "ci", "verdict", "reason"}]}
```
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edgecnn.config import explain_yaml
from edgecnn.errors import InvalidInputError
from edgecnn.fileio import atomic_write_text

SCHEMA = "edgecnn.bench.results"
SCHEMA_VERSION = 1

# per-round iteration times (ms): numbers only, never strings that happen to parse
Rounds = list[list[Annotated[float, Field(strict=True)]]]


class _Open(BaseModel):
    """The parts `bench compare` reads are checked; the rest of the file (environment, notes, ...) passes as is."""

    model_config = ConfigDict(extra="allow")


class CaseResult(_Open):
    id: str
    config: dict[str, Any]
    artifact: dict[str, Any] | None
    latency_ms: dict[str, Any] | None
    rounds_ms: Rounds


class ReferenceResult(_Open):
    rounds_ms: Rounds


class ResultsFile(_Open):
    """A results file of this schema version (its `schema` and version are checked first, for a clearer error)."""

    suite: dict[str, Any]
    environment: dict[str, Any]
    cases: list[CaseResult]
    reference: ReferenceResult | None = None


def write_results(results: dict[str, Any], path: str | Path) -> Path:
    """Write atomically: an interrupted run never leaves a half-written results file."""
    return atomic_write_text(path, json.dumps(results, indent=1) + "\n")


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and check a results file; anything else (corrupt, another schema, missing fields) is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"results file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path}: corrupt results file, not valid JSON ({exc})") from None
    return check_results(data, where=str(path))


def check_results(data: Any, *, where: str = "results") -> dict[str, Any]:
    """`data` itself once it is a results file of this version (ResultsFile); else one line saying what is wrong."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema", "no 'schema' field") if isinstance(data, dict) else type(data).__name__
        raise InvalidInputError(
            f"{where}: not an edgecnn bench results file (schema: {found}); "
            f"make one with `edgecnn bench run SUITE --out FILE`"
        )
    if data.get("schema_version") != SCHEMA_VERSION:
        raise InvalidInputError(
            f"{where}: results schema version {data.get('schema_version')} is not supported "
            f"(this edgecnn reads version {SCHEMA_VERSION}); re-run the suite"
        )
    try:
        ResultsFile.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(explain_yaml(exc, None, f"{where}: corrupt results file", data=data)) from None
    return data

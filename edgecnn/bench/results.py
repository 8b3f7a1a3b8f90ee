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
from typing import Any

from edgecnn.errors import InvalidInputError
from edgecnn.fileio import atomic_write_text

SCHEMA = "edgecnn.bench.results"
SCHEMA_VERSION = 1
_CASE_KEYS = ("id", "config", "artifact", "latency_ms", "rounds_ms")


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
    for key in ("suite", "environment", "cases"):
        if key not in data:
            raise InvalidInputError(f"{where}: corrupt results file, '{key}' is missing")
    if not isinstance(data["cases"], list):
        raise InvalidInputError(f"{where}: corrupt results file, 'cases' is not a list")
    for i, case in enumerate(data["cases"]):
        missing = [k for k in _CASE_KEYS if not isinstance(case, dict) or k not in case]
        if missing:
            raise InvalidInputError(f"{where}: corrupt results file, case {i} lacks {', '.join(missing)}")
        rounds = case["rounds_ms"]
        if not isinstance(rounds, list) or not all(
            isinstance(r, list) and all(isinstance(t, (int, float)) for t in r) for r in rounds
        ):
            raise InvalidInputError(f"{where}: corrupt results file, case {case['id']} has malformed rounds_ms")
    ref = data.get("reference")
    if ref is not None and (not isinstance(ref, dict) or not isinstance(ref.get("rounds_ms"), list)):
        raise InvalidInputError(f"{where}: corrupt results file, malformed 'reference'")
    return data

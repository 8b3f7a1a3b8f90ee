"""report.json: the versioned result of a run. Markdown and HTML are renderings of it.

`Report` (edgecnn.report.schema) is its typed definition and docs/report.schema.json its published JSON
Schema. Fields that do not apply are null, never invented; docs/report.md documents every field.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from edgecnn import __version__
from edgecnn.errors import InternalError
from edgecnn.fileio import atomic_write_text
from edgecnn.report.markdown import render_markdown
from edgecnn.report.schema import REPORT_SCHEMA_VERSION, Report, report_json_schema

__all__ = [
    "REPORT_SCHEMA_VERSION",
    "Report",
    "check_report",
    "new_report",
    "report_json_schema",
    "validate_report",
    "write_report",
]


def new_report(
    *, model: dict[str, Any], recipe: dict[str, Any], target: str, environment: dict[str, Any]
) -> dict[str, Any]:
    """The report of a run that is starting: every field present, null (or empty) until a stage fills it.

    A plain dict that the pipeline's stages fill in; `validate_report` / `write_report` turn it into a `Report`.
    """
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "edgecnn_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "recipe": recipe,
        "target": target,
        "steps": [],
        "artifacts": [],
        "baseline": None,
        "optimized": None,
        "deliverable": None,
        "speedup": None,
        "size_ratio": None,
        "accuracy_delta": None,
        "fidelity": None,
        "gates": [],
        "variants": [],
        "notes": [],
        "not_done": [],
        "environment": environment,
        "device_environment": None,
        "stage_seconds": None,
    }


def validate_report(report: dict[str, Any] | Report, *, complete: bool = False) -> Report:
    """The report as a validated `Report`; an invalid one is an InternalError naming each bad field.

    The dict is first made JSON-able exactly as report.json will hold it (paths and numpy scalars become
    JSON values), so what validates is what is written. A report being built may leave out a field that
    is null or empty (the written one has them all); `complete=True` (a report.json read back) requires
    every field, as the published schema does.
    """
    if isinstance(report, Report):
        return report
    try:
        typed = Report.model_validate(_jsonable(report))
    except ValidationError as exc:
        _invalid([(".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()])
    if complete:
        missing = [(loc, "Field required") for loc in _missing_fields(typed)]
        if missing:
            _invalid(missing)
    return typed


def _invalid(problems: list[tuple[str, str]]) -> None:
    text = "; ".join(f"{loc or '<report>'}: {msg}" for loc, msg in problems[:10])
    raise InternalError(
        f"the report does not match its schema (report.json schema_version {REPORT_SCHEMA_VERSION}): {text}"
    ) from None


def _missing_fields(model: BaseModel, loc: str = "") -> list[str]:
    """Dotted paths of the fields a validated model (and the models inside it) was not given."""
    out = [f"{loc}{name}" for name in type(model).model_fields if name not in model.model_fields_set]
    for name in model.model_fields_set:
        value = getattr(model, name)
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            if isinstance(item, BaseModel):
                out += _missing_fields(item, f"{loc}{name}." if i is None else f"{loc}{name}.{i}.")
    return out


def check_report(report: dict[str, Any] | Report) -> None:
    """Raise InternalError unless `report` validates against the report schema."""
    validate_report(report)


def write_report(report: dict[str, Any] | Report, out_dir: str | Path, *, html: bool = True) -> dict[str, Path]:
    """Validate the report, then write report.json, report.md and (optionally) report.html atomically.

    Nothing is written when the report does not validate. The JSON is the validated model's; the Markdown
    and HTML are rendered from that same data.
    """

    data = validate_report(report).to_dict()
    texts = {"json": json.dumps(data, indent=2) + "\n", "md": render_markdown(data)}
    if html:
        from edgecnn.report.html import render_html

        texts["html"] = render_html(data)
    out_dir = Path(out_dir)
    paths = {kind: out_dir / f"report.{kind}" for kind in texts}
    for kind, text in texts.items():
        atomic_write_text(paths[kind], text)
    return paths


def _jsonable(obj: Any) -> Any:
    """`obj` as JSON values (what json.loads of report.json gives back), keeping +-Infinity and NaN floats."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    return _jsonable(_json_default(obj))


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return str(obj)

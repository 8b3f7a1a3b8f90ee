"""report.json: the versioned result of a run. Markdown and HTML are renderings of this dict.

Fields that do not apply are null, never invented; docs/report.md documents the schema.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from edgecnn import __version__
from edgecnn.fileio import atomic_write_text

REPORT_SCHEMA_VERSION = 1
REQUIRED_KEYS = (
    "schema_version",
    "edgecnn_version",
    "created",
    "model",
    "recipe",
    "target",
    "steps",
    "artifacts",
    "baseline",
    "optimized",
    "speedup",
    "size_ratio",
    "accuracy_delta",
    "fidelity",
    "gates",
    "environment",
)


def new_report(
    *, model: dict[str, Any], recipe: dict[str, Any], target: str, environment: dict[str, Any]
) -> dict[str, Any]:
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
        "speedup": None,
        "size_ratio": None,
        "accuracy_delta": None,
        "fidelity": None,
        "gates": [],
        "variants": [],
        "notes": [],
        "not_done": [],
        "environment": environment,
    }


def check_report(report: dict[str, Any]) -> None:
    """Structural check used by the tests and before writing: every documented key is present."""
    missing = [k for k in REQUIRED_KEYS if k not in report]
    if missing:
        raise ValueError(f"report lacks {', '.join(missing)}")
    if report["schema_version"] != REPORT_SCHEMA_VERSION:
        raise ValueError(f"unsupported report schema_version {report['schema_version']}")


def write_report(report: dict[str, Any], out_dir: str | Path, *, html: bool = True) -> dict[str, Path]:
    """Write report.json, report.md and (optionally) report.html atomically into out_dir."""
    from edgecnn.report.markdown import render_markdown

    check_report(report)
    out_dir = Path(out_dir)
    paths = {"json": out_dir / "report.json", "md": out_dir / "report.md"}
    atomic_write_text(paths["json"], json.dumps(report, indent=2, default=_json_default) + "\n")
    atomic_write_text(paths["md"], render_markdown(report))
    if html:
        from edgecnn.report.html import render_html

        paths["html"] = out_dir / "report.html"
        atomic_write_text(paths["html"], render_html(report))
    return paths


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

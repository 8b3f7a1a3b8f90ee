"""report.html: user input is escaped by the template, the template ships as package data, plots leave the backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from edgecnn.report.build import new_report
from edgecnn.report.html import render_html

ROOT = Path(__file__).parents[2]
SCRIPT = "<script>alert(1)</script>"


def _report(name: str = "tiny") -> dict:
    report = new_report(
        model={"name": name, "source": "zoo:tiny", "weights": "file"},
        recipe={"model": {"name": name}},
        target="onnxruntime",
        environment={"cpu": "test", "cores": 2, "versions": {}},
    )
    times = [2.0, 2.1, 2.2, 2.3, 2.4]
    stats = dict.fromkeys(("p50", "p90", "p95", "p99", "mean", "std", "min", "max"), 2.2)
    for role in ("baseline", "optimized"):
        report[role] = {"latency_ms": stats, "times_ms": times, "precision": "fp32", "size_bytes": 4000}
    report["notes"] = [f"a note with {SCRIPT}"]
    report["gates"] = [{"name": SCRIPT, "threshold": 1.0, "value": 0.5, "passed": False, "reason": SCRIPT}]
    report["artifacts"] = [
        {"role": "optimized", "format": "onnx", "precision": "fp32", "bytes": 10, "sha256": "ab", "path": SCRIPT}
    ]
    return report


def test_a_model_named_like_a_script_is_escaped():
    html = render_html(_report(SCRIPT))
    assert "<script" not in html.lower()
    assert "<title>edgecnn report: &lt;script&gt;alert(1)&lt;/script&gt;</title>" in html
    assert "<h1>&lt;script&gt;alert(1)&lt;/script&gt; &rarr; onnxruntime</h1>" in html
    assert "<li>a note with &lt;script&gt;alert(1)&lt;/script&gt;</li>" in html
    assert html.count("&lt;script&gt;") >= 7  # title, heading, note, gate name and reason, path, report.json


def test_the_template_ships_as_package_data():
    tomllib = pytest.importorskip("tomllib")
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["edgecnn"]
    templates = list((ROOT / "edgecnn" / "report" / "templates").iterdir())
    assert templates
    for path in templates:
        rel = PurePosixPath(path.relative_to(ROOT / "edgecnn").as_posix())
        assert any(rel.match(p) for p in patterns), f"{rel} is not package data"


def test_rendering_plots_leaves_the_matplotlib_backend_and_pyplot_alone(tmp_path):
    code = (
        "import sys, matplotlib\n"
        "matplotlib.use('svg')\n"
        "from edgecnn.report.html import render_html\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_html import _report\n"
        "r = _report()\n"
        "r['steps'] = [{'type': 'quantize', 'config': {}, 'seconds': 1.0,"
        " 'report': {'sensitivity': [{'layer': 'c', 'sqnr_db': 20.0}]}}]\n"
        "r['variants'] = [{'name': n, 'size_bytes': 1e6, 'p50_ms': 2.0 + i} for i, n in enumerate('ab')]\n"
        "html = render_html(r)\n"
        "assert html.count('data:image/png;base64,') == 3, html.count('data:image/png;base64,')\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
